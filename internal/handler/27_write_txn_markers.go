package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/txn"
)

// WriteTxnMarkers (API key 27): versions 0–1.
//
//	v1: flexible versions
//	v2: TransactionVersion (KIP-1228) — not advertised
//
// Sent by a transaction coordinator to partition leaders. On a single node
// the coordinator calls WriteMarkers directly; this API serves the same
// code for a future remote coordinator and for tools.
func (h *Handlers) writeTxnMarkers(ctx context.Context, _ *RequestContext, req *kmsg.WriteTxnMarkersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range req.Markers {
		mr := txn.MarkerRequest{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				mr.Partitions = append(mr.Partitions, txn.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		errs := h.writeMarkers(ctx, mr, true)
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				rp.ErrorCode = errorCode(errs[txn.TopicPartition{Topic: t.Topic, Partition: p}])
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp
}

// WriteMarkers implements txn.Markers for the local coordinator: a marker
// is appended to each local partition, made durable, and the high
// watermark (and so the last stable offset) moved past it. A partition
// this broker has no log for is reported done: its topic was deleted, and
// Kafka drops such markers too. A marker in __consumer_offsets completes the
// producer's transactional offset commits in the group coordinator.
func (h *Handlers) WriteMarkers(ctx context.Context, m txn.MarkerRequest) map[txn.TopicPartition]error {
	return h.writeMarkers(ctx, m, false)
}

func (h *Handlers) writeMarkers(ctx context.Context, m txn.MarkerRequest, reportUnknown bool) map[txn.TopicPartition]error {
	im := h.deps.Image()
	out := make(map[txn.TopicPartition]error, len(m.Partitions))
	type pending struct {
		tp  txn.TopicPartition
		l   *commitlog.Log
		end int64
	}
	var waits []pending
	for _, tp := range m.Partitions {
		l, mp, err := h.partitionLog(im, tp.Topic, tp.Partition)
		if err != nil {
			if errors.Is(err, errUnknownPartition) && !reportUnknown {
				err = nil
			}
			out[tp] = err
			continue
		}
		res, err := l.AppendMarker(commitlog.MarkerAppend{
			ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Commit,
			CoordinatorEpoch: m.CoordinatorEpoch, LeaderEpoch: mp.LeaderEpoch,
		})
		if err != nil {
			out[tp] = err
			continue
		}
		waits = append(waits, pending{tp, l, res.LastOffset + 1})
	}
	for _, w := range waits {
		if err := w.l.WaitDurable(ctx, w.end-1); err != nil {
			out[w.tp] = err
			continue
		}
		h.advanceHighWatermark(w.l, w.end)
		if w.tp.Topic == group.TopicName && h.deps.Groups != nil {
			// Transactional offset commits (KIP-98): the group coordinator
			// applies or drops the producer's pending offsets once the
			// marker is durable (GroupCoordinator.onTransactionCompleted).
			h.deps.Groups.CompleteTxn(w.tp.Partition, m.ProducerID, m.Commit)
		}
		out[w.tp] = nil
	}
	return out
}
