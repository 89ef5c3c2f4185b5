package handler

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
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
				if sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch, mp); sp.ErrorCode == 0 {
					maxOffset := l.HighWatermark()
					if req.IsolationLevel == 1 {
						maxOffset = l.LastStableOffset()
					}
					sp.Timestamp, sp.Offset, err = lookupOffset(l, rp.Timestamp, maxOffset)
					if err != nil {
						sp.ErrorCode = errorCode(err)
						h.logger().Error("list offsets", "topic", rt.Topic, "partition", rp.Partition, "peer", rc.Peer, "err", err)
					} else if sp.Offset >= 0 {
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
	tsLatest         = -1
	tsEarliest       = -2
	tsMaxTimestamp   = -3
	tsEarliestLocal  = -4
	tsLatestTiered   = -5
	scanChunkBytes   = 1 << 20
	maxDecodedRecord = 64 << 20
)

// lookupOffset answers one ListOffsets query: (timestamp, offset), -1 for
// what does not apply.
func lookupOffset(l *commitlog.Log, ts, maxOffset int64) (int64, int64, error) {
	switch ts {
	case tsLatest:
		return -1, maxOffset, nil
	case tsEarliest, tsEarliestLocal:
		return -1, l.LogStartOffset(), nil
	case tsLatestTiered:
		return -1, -1, nil
	case tsMaxTimestamp:
		return scanTimestamps(l, maxOffset, -1)
	}
	if ts < 0 {
		return -1, -1, nil
	}
	return scanTimestamps(l, maxOffset, ts)
}

// scanTimestamps reads the log's batches below maxOffset. With target ≥ 0 it
// returns the first record whose timestamp is ≥ target; with target -1 the
// record with the largest timestamp (the first of equals, as Kafka). It
// reads batch headers only, and decodes the records of the one batch that
// holds the answer.
//
// TODO(kavka): use the commitlog's time index once it offers a lookup; this
// scan is linear in the log's size.
func scanTimestamps(l *commitlog.Log, maxOffset, target int64) (int64, int64, error) {
	var best []byte // a copy of the batch holding the answer
	bestTs := int64(-1)
	var buf []byte
	off := l.LogStartOffset()
	for off < maxOffset { // each pass advances off by at least one batch
		s, err := l.Read(off, scanChunkBytes, maxOffset, true)
		if err != nil {
			return -1, -1, fmt.Errorf("scan offset %d: %w", off, err)
		}
		buf, err = s.ReadAll(buf[:0])
		s.Release()
		if err != nil {
			return -1, -1, err
		}
		if len(buf) == 0 {
			break
		}
		it := record.NewBatches(buf)
		for b, hd, ok := it.Next(); ok; b, hd, ok = it.Next() {
			off = hd.NextOffset()
			if hd.Control() {
				continue
			}
			if target >= 0 && hd.MaxTimestamp >= target {
				return recordAt(b, target)
			}
			if target < 0 && hd.MaxTimestamp > bestTs {
				bestTs, best = hd.MaxTimestamp, append(best[:0], b...)
			}
		}
		if err := it.Err(); err != nil {
			return -1, -1, fmt.Errorf("scan offset %d: %w", off, err)
		}
	}
	if best == nil {
		return -1, -1, nil
	}
	return recordAt(best, bestTs)
}

// recordAt returns the first record of batch whose timestamp is ≥ target.
func recordAt(batch []byte, target int64) (int64, int64, error) {
	hd, err := record.ParseHeader(batch)
	if err != nil {
		return -1, -1, err
	}
	if hd.LogAppendTime() {
		return hd.MaxTimestamp, hd.BaseOffset, nil
	}
	recs, err := record.DecodeRecords(batch, maxDecodedRecord)
	if err != nil {
		return -1, -1, err
	}
	for i := range recs {
		if ts := hd.RecordTimestamp(&recs[i]); ts >= target {
			return ts, hd.BaseOffset + int64(recs[i].OffsetDelta), nil
		}
	}
	return hd.MaxTimestamp, hd.LastOffset(), nil
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
