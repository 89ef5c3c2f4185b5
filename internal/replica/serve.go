package replica

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// ServeReplicaFetch answers a follower's Fetch (replica id ≥ 0). The caller
// has checked that replicaID is a broker of the cluster (CVE-2018-1288:
// never give a client replica semantics). topicName resolves topic ids for
// Fetch v13+; it may be nil for older versions. Partitions are read up to
// the leader's served end, not the high watermark; each one updates the
// follower's state. An answer without records waits up to MaxWaitMillis
// for data. Mirrors ReplicaManager.fetchMessages for a follower.
func (m *Manager) ServeReplicaFetch(ctx context.Context, replicaID int32, req *kmsg.FetchRequest, topicName func([16]byte) string) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(req.GetVersion())
	if req.MaxBytes < 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	byID := req.Version >= 13
	type want struct {
		topic string
		ti    int
		rp    *kmsg.FetchRequestTopicPartition
	}
	var wants []want
	var keys []key
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		name := rt.Topic
		if byID {
			name = ""
			if topicName != nil {
				name = topicName(rt.TopicID)
			}
		}
		for pi := range rt.Partitions {
			wants = append(wants, want{topic: name, ti: ti, rp: &rt.Partitions[pi]})
			if name != "" {
				keys = append(keys, key{name, rt.Partitions[pi].Partition})
			}
		}
	}
	var buf []byte
	run := func() (bytes int, done bool) {
		resp.Topics = resp.Topics[:0]
		buf = buf[:0]
		remaining := int(req.MaxBytes)
		if remaining == 0 {
			remaining = 10 << 20
		}
		type span struct{ t, p, start, end int }
		var spans []span
		for _, w := range wants {
			rt := &req.Topics[w.ti]
			if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != rt.Topic || resp.Topics[n-1].TopicID != rt.TopicID {
				t := kmsg.NewFetchResponseTopic()
				t.Topic, t.TopicID = rt.Topic, rt.TopicID
				resp.Topics = append(resp.Topics, t)
			}
			t := &resp.Topics[len(resp.Topics)-1]
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = w.rp.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.PreferredReadReplica = -1
			var p *Partition
			if w.topic != "" {
				p = m.Partition(w.topic, w.rp.Partition)
			}
			start := len(buf)
			switch {
			case w.topic == "" && byID:
				rp.ErrorCode = kerr.UnknownTopicID.Code
				done = true
			case p == nil:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				done = true
			default:
				limit := max(min(int(w.rp.PartitionMaxBytes), remaining), 0)
				rr, moved, err := p.readForFollower(replicaID, w.rp.FetchOffset, w.rp.CurrentLeaderEpoch, w.rp.LastFetchedEpoch, int32(limit))
				if moved {
					m.hwMoved(p)
				}
				switch {
				case err != nil:
					rp.ErrorCode = errorCode(err)
					if rr.logStart >= 0 {
						rp.LogStartOffset = rr.logStart
					}
					done = true
				case rr.divergent:
					rp.HighWatermark, rp.LogStartOffset = rr.hw, rr.logStart
					rp.LastStableOffset = rr.hw
					rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = rr.divEpoch, rr.divEndOff
					done = true
				default:
					rp.HighWatermark, rp.LogStartOffset = rr.hw, rr.logStart
					rp.LastStableOffset = p.log.LastStableOffset()
					var rerr error
					buf, rerr = rr.slice.ReadAll(buf)
					rr.slice.Release()
					if rerr != nil {
						rp.ErrorCode = kerr.KafkaStorageError.Code
						done = true
					}
				}
			}
			n := len(buf) - start
			bytes += n
			remaining -= n
			t.Partitions = append(t.Partitions, rp)
			if n > 0 {
				spans = append(spans, span{len(resp.Topics) - 1, len(t.Partitions) - 1, start, start + n})
			}
		}
		for _, s := range spans {
			resp.Topics[s.t].Partitions[s.p].RecordBatches = buf[s.start:s.end:s.end]
		}
		return bytes, done || bytes >= int(max(req.MinBytes, 1))
	}
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if _, done := run(); !done && wait > 0 && len(keys) > 0 {
		m.waits.Await(ctx, wait, keys, func() bool { _, d := run(); return d })
	}
	return resp
}

// errorCode maps the errors of a replica read to Kafka codes (the handler
// has its own map for client requests).
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, commitlog.ErrLogOffline), errors.Is(err, commitlog.ErrClosed):
		return kerr.KafkaStorageError.Code
	default:
		return kerr.UnknownServerError.Code
	}
}
