package commitlog

import (
	"fmt"
	"math"
)

// Kafka's defaults for the topic configs a Log uses.
const (
	DefaultSegmentBytes           = 1 << 30
	DefaultSegmentMs              = 7 * 24 * 60 * 60 * 1000
	DefaultSegmentIndexBytes      = 10 << 20
	DefaultIndexIntervalBytes     = 4096
	DefaultRetentionMs            = 7 * 24 * 60 * 60 * 1000
	DefaultDeleteRetentionMs      = 24 * 60 * 60 * 1000
	DefaultMinCleanableDirtyRatio = 0.5
	DefaultMaxMessageBytes        = 1048588
	DefaultFileDeleteDelayMs      = 60000

	// MinSegmentBytes is Kavka's floor for segment.bytes (Kafka's is 14).
	MinSegmentBytes = 1 << 10
)

// Config is a partition's log configuration. The Kafka topic config each
// field mirrors is named in its comment. A zero value means Kafka's default;
// Validate fills the defaults in. Where zero is also a meaningful Kafka value
// the comment says how to ask for it.
type Config struct {
	// SegmentBytes: segment.bytes. A segment rolls before it would grow past
	// this size. Default 1 GiB, minimum 1 KiB, maximum 2 GiB-1 (positions in
	// the offset index are 32-bit).
	SegmentBytes int64
	// SegmentMs: segment.ms. A non-empty segment rolls once its first batch is
	// this old. Default 7 days.
	SegmentMs int64
	// SegmentIndexBytes: segment.index.bytes. A segment rolls when its offset
	// or time index would exceed this size. Default 10 MiB.
	SegmentIndexBytes int32
	// IndexIntervalBytes: index.interval.bytes. Bytes of batches between two
	// sparse index entries. Default 4096.
	IndexIntervalBytes int32
	// RetentionMs: retention.ms. Segments whose newest timestamp is older are
	// deleted. Default 7 days; -1 means unlimited.
	RetentionMs int64
	// RetentionBytes: retention.bytes, per partition. Default (and 0) means
	// -1, unlimited.
	RetentionBytes int64
	// CleanupCompact: cleanup.policy contains "compact".
	CleanupCompact bool
	// CleanupDelete: cleanup.policy contains "delete". When neither policy is
	// set, Validate sets CleanupDelete (Kafka's default "delete").
	CleanupDelete bool
	// DeleteRetentionMs: delete.retention.ms, how long the cleaner keeps
	// tombstones. Default 1 day; a negative value means 0.
	DeleteRetentionMs int64
	// MinCompactionLagMs: min.compaction.lag.ms. Default 0.
	MinCompactionLagMs int64
	// MaxCompactionLagMs: max.compaction.lag.ms. Default (and 0) is MaxInt64.
	MaxCompactionLagMs int64
	// MinCleanableDirtyRatio: min.cleanable.dirty.ratio. Default 0.5.
	MinCleanableDirtyRatio float64
	// MaxMessageBytes: max.message.bytes, the largest batch accepted from a
	// producer. Default 1048588.
	MaxMessageBytes int32
	// LogAppendTime: message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// FlushMessages: flush.messages. 0 is Kavka's default: every append is
	// made durable before it is acknowledged (group commit, WaitDurable). A
	// positive value fsyncs after that many messages instead.
	FlushMessages int64
	// FlushMs: flush.ms. 0 is Kavka's default (durable before ack). A
	// positive value makes Manager.Run fsync at least that often.
	FlushMs int64
	// FileDeleteDelayMs: file.delete.delay.ms, how long a deleted segment
	// stays on disk renamed to .deleted. Default 60000; negative means 0.
	FileDeleteDelayMs int64
}

// DefaultConfig returns Kafka's defaults, validated.
func DefaultConfig() Config {
	var c Config
	if err := c.Validate(); err != nil {
		panic("BUG: default config invalid: " + err.Error())
	}
	return c
}

// Validate fills in defaults for zero fields and rejects values out of range.
// It is idempotent.
func (c *Config) Validate() error {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes < MinSegmentBytes || c.SegmentBytes > math.MaxInt32 {
		return fmt.Errorf("%w: segment.bytes %d not in [%d, %d]", ErrInvalidConfig, c.SegmentBytes, MinSegmentBytes, math.MaxInt32)
	}
	if c.SegmentMs == 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.SegmentMs < 1 {
		return fmt.Errorf("%w: segment.ms %d below 1", ErrInvalidConfig, c.SegmentMs)
	}
	if c.SegmentIndexBytes == 0 {
		c.SegmentIndexBytes = DefaultSegmentIndexBytes
	}
	if c.SegmentIndexBytes < 4*timeEntrySize {
		return fmt.Errorf("%w: segment.index.bytes %d below %d", ErrInvalidConfig, c.SegmentIndexBytes, 4*timeEntrySize)
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.IndexIntervalBytes < 0 {
		return fmt.Errorf("%w: index.interval.bytes %d negative", ErrInvalidConfig, c.IndexIntervalBytes)
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.RetentionMs < -1 {
		return fmt.Errorf("%w: retention.ms %d below -1", ErrInvalidConfig, c.RetentionMs)
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.RetentionBytes < -1 {
		return fmt.Errorf("%w: retention.bytes %d below -1", ErrInvalidConfig, c.RetentionBytes)
	}
	if !c.CleanupCompact && !c.CleanupDelete {
		c.CleanupDelete = true
	}
	if c.DeleteRetentionMs == 0 {
		c.DeleteRetentionMs = DefaultDeleteRetentionMs
	}
	if c.DeleteRetentionMs < 0 {
		c.DeleteRetentionMs = 0
	}
	if c.MinCompactionLagMs < 0 {
		return fmt.Errorf("%w: min.compaction.lag.ms %d negative", ErrInvalidConfig, c.MinCompactionLagMs)
	}
	if c.MaxCompactionLagMs == 0 {
		c.MaxCompactionLagMs = math.MaxInt64
	}
	if c.MaxCompactionLagMs < 1 || c.MaxCompactionLagMs < c.MinCompactionLagMs {
		return fmt.Errorf("%w: max.compaction.lag.ms %d below 1 or min.compaction.lag.ms", ErrInvalidConfig, c.MaxCompactionLagMs)
	}
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = DefaultMinCleanableDirtyRatio
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 || math.IsNaN(c.MinCleanableDirtyRatio) {
		return fmt.Errorf("%w: min.cleanable.dirty.ratio %v not in [0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxMessageBytes < 0 {
		return fmt.Errorf("%w: max.message.bytes %d negative", ErrInvalidConfig, c.MaxMessageBytes)
	}
	if c.FlushMessages < 0 || c.FlushMs < 0 {
		return fmt.Errorf("%w: flush.messages %d / flush.ms %d negative", ErrInvalidConfig, c.FlushMessages, c.FlushMs)
	}
	if c.FileDeleteDelayMs == 0 {
		c.FileDeleteDelayMs = DefaultFileDeleteDelayMs
	}
	if c.FileDeleteDelayMs < 0 {
		c.FileDeleteDelayMs = 0
	}
	return nil
}

// durable reports whether the flush policy is Kavka's default: acknowledge
// only after fsync.
func (c *Config) durable() bool { return c.FlushMessages == 0 && c.FlushMs == 0 }
