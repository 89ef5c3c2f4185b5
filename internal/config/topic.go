package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Topic is the effective configuration of one topic: its overrides applied
// over the broker's defaults. Field comments name the topic key.
type Topic struct {
	SegmentBytes           int32   // segment.bytes
	SegmentMs              int64   // segment.ms
	SegmentJitterMs        int64   // segment.jitter.ms
	SegmentIndexBytes      int32   // segment.index.bytes
	IndexIntervalBytes     int32   // index.interval.bytes
	RetentionMs            int64   // retention.ms; -1 = forever
	RetentionBytes         int64   // retention.bytes; -1 = no limit
	CleanupDelete          bool    // cleanup.policy contains delete
	CleanupCompact         bool    // cleanup.policy contains compact
	DeleteRetentionMs      int64   // delete.retention.ms
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MaxMessageBytes        int32   // max.message.bytes
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime            bool
	TimestampDifferenceMaxMs int64 // message.timestamp.difference.max.ms (deprecated)
	TimestampBeforeMaxMs     int64 // message.timestamp.before.max.ms
	TimestampAfterMaxMs      int64 // message.timestamp.after.max.ms
	FlushMessages            int64 // flush.messages
	FlushMs                  int64 // flush.ms
	// SyncOnAck is Kavka's default durability: true while neither
	// flush.messages nor flush.ms is set on the topic or the broker; every
	// write is then fsynced before it is acknowledged, and FlushMessages and
	// FlushMs are to be ignored.
	SyncOnAck             bool
	FileDeleteDelayMs     int64  // file.delete.delay.ms
	CompressionType       string // compression.type: producer, uncompressed, gzip, snappy, lz4, zstd
	MinInsyncReplicas     int32  // min.insync.replicas
	Preallocate           bool   // preallocate
	UncleanLeaderElection bool   // unclean.leader.election.enable
}

// ValidateTopicConfig checks one topic config. The error's message follows
// Kafka's and suits an INVALID_CONFIG response.
func ValidateTopicConfig(name, value string) error {
	d, ok := topicByName[name]
	if !ok {
		return &ConfigError{Name: name, Msg: fmt.Sprintf("Unknown topic config name: %s", name)}
	}
	_, err := d.parse(value)
	return err
}

// ResolveTopic returns the effective topic configuration for overrides
// (topic key → value). Every override is validated; so are combinations
// Kafka rejects (min.compaction.lag.ms above max.compaction.lag.ms).
func (b *Broker) ResolveTopic(overrides map[string]string) (Topic, error) {
	var t Topic
	// Validate overrides in name order so the first error is deterministic.
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := ValidateTopicConfig(k, overrides[k]); err != nil {
			return t, err
		}
	}
	for _, d := range topicTable {
		s, ok := overrides[d.Name]
		if !ok {
			s = b.topicDefault(d)
		}
		v, err := d.parse(s)
		if err != nil {
			if ok {
				panic(fmt.Sprintf("BUG: validated override %s=%q now invalid: %v", d.Name, s, err))
			}
			// A broker value valid for its own key may be out of the topic
			// key's range (log.retention.minutes=-5 is valid and scaled).
			return t, err
		}
		d.topic(&t, v)
	}
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return t, &ConfigError{Name: "min.compaction.lag.ms", Msg: fmt.Sprintf(
			"conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)",
			t.MinCompactionLagMs, t.MaxCompactionLagMs)}
	}
	_, fm := overrides["flush.messages"]
	_, fms := overrides["flush.ms"]
	_, bm := b.set["log.flush.interval.messages"]
	_, bms := b.set["log.flush.interval.ms"]
	t.SyncOnAck = !fm && !fms && !bm && !bms
	return t, nil
}

// topicDefault is the value a topic key takes without an override: the first
// synonym set on the broker, else the last synonym's default, scaled to the
// topic key's unit.
func (b *Broker) topicDefault(d *def) string {
	s, _, _ := b.brokerSynonym(d)
	return s
}

// brokerSynonym returns the broker value behind topic key d, the broker key
// it came from and whether that key was set explicitly.
func (b *Broker) brokerSynonym(d *def) (value, from string, set bool) {
	if len(d.Synonyms) == 0 {
		return d.Default, "", false
	}
	for _, syn := range d.Synonyms {
		if v, ok := b.set[syn.Name]; ok {
			return scale(v, syn.Scale), syn.Name, true
		}
	}
	last := d.Synonyms[len(d.Synonyms)-1]
	bd := brokerByName[last.Name]
	return scale(bd.Default, last.Scale), last.Name, false
}

// scale multiplies an integer text value by f; negative values (-1 =
// unlimited) stay as they are and products saturate at MaxInt64.
func scale(s string, f int64) string {
	if f == 1 {
		return s
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return s
	}
	if n > math.MaxInt64/f {
		return strconv.FormatInt(math.MaxInt64, 10)
	}
	return strconv.FormatInt(n*f, 10)
}
