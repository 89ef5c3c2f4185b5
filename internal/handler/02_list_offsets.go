package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// ListOffsets (API key 2): versions 1–10.
//
//	v1:  one offset per partition (v0's MaxNumOffsets is gone)
//	v2:  IsolationLevel
//	v4:  CurrentLeaderEpoch fencing and LeaderEpoch in the response (KIP-320)
//	v6:  flexible versions
//	v7:  timestamp -3: the record with the largest timestamp (KIP-734)
//	v8:  timestamp -4: earliest local offset (KIP-405) = the log start offset here
//	v9:  timestamp -5: latest tiered offset (KIP-1005); nothing is tiered, so -1
//	v10: TimeoutMillis (KIP-1075); answered at once anyway
//	v11: timestamp -6, earliest pending upload (KIP-1023) — not advertised
func (h *Handlers) listOffsets(_ context.Context, rc *RequestContext, req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	im := h.deps.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			l, mp, err := h.partitionLog(im, rt.Topic, rp.Partition)
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case req.IsolationLevel != 0 && req.IsolationLevel != 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			default:
				if sp.ErrorCode = h.leaderEpochCode(rp.CurrentLeaderEpoch, rt.Topic, mp); sp.ErrorCode == 0 {
					maxOffset := l.HighWatermark()
					if req.IsolationLevel == 1 {
						maxOffset = l.LastStableOffset()
					}
					sp.Timestamp, sp.Offset = lookupOffset(l, rp.Timestamp, maxOffset)
					if sp.Offset >= 0 {
						sp.LeaderEpoch = epochAt(l, sp.Offset)
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// The special timestamps of ListOffsets.
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3
	tsEarliestLocal = -4
	tsLatestTiered  = -5
)

// lookupOffset answers one ListOffsets query: (timestamp, offset), -1 for
// what does not apply. Lookups by time go through the log's time and offset
// indexes; an answer at or past maxOffset (the high watermark or last
// stable offset) is not visible to the client and becomes none, as in
// kafka.cluster.Partition.fetchOffsetForTimestamp.
func lookupOffset(l *commitlog.Log, ts, maxOffset int64) (int64, int64) {
	var off, t int64
	switch {
	case ts == tsLatest:
		return -1, maxOffset
	case ts == tsEarliest, ts == tsEarliestLocal:
		return -1, l.LogStartOffset()
	case ts == tsMaxTimestamp:
		off, t = l.MaxTimestamp()
	case ts >= 0:
		var ok bool
		if off, t, ok = l.OffsetForTimestamp(ts); !ok {
			return -1, -1
		}
	default: // tsLatestTiered: nothing is tiered; unknown negative values
		return -1, -1
	}
	if off < 0 || off >= maxOffset {
		return -1, -1
	}
	return t, off
}

// epochAt returns the leader epoch of the record at offset, -1 if unknown.
func epochAt(l *commitlog.Log, offset int64) int32 {
	epoch := int32(-1)
	for _, e := range l.LeaderEpochs().Entries() {
		if e.StartOffset > offset {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}
