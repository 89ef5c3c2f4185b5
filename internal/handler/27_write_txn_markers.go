package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/txn"
)

// WriteTxnMarkers (API key 27): versions 0–1.
//
//	v1: flexible versions
//	v2: TransactionVersion (KIP-1228) — not advertised
//
// Sent by a transaction coordinator to partition leaders. The local
// coordinator calls WriteMarkers directly, which sends this request to the
// leader of each partition that another broker leads (cluster mode).
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
// is appended to each partition this broker leads, through the replica
// layer, and acknowledged once committed on the ISR (the high watermark,
// and so the last stable offset, past it); a partition another broker
// leads gets it with WriteTxnMarkers to that broker. A partition the
// metadata no longer has is reported done: its topic was deleted, and
// Kafka drops such markers too; one it has but this broker holds no log
// for yet is an error, retried. A marker in __consumer_offsets completes the
// producer's transactional offset commits in the group coordinator.
func (h *Handlers) WriteMarkers(ctx context.Context, m txn.MarkerRequest) map[txn.TopicPartition]error {
	return h.writeMarkers(ctx, m, false)
}

func (h *Handlers) writeMarkers(ctx context.Context, m txn.MarkerRequest, reportUnknown bool) map[txn.TopicPartition]error {
	im := h.deps.Image()
	out := make(map[txn.TopicPartition]error, len(m.Partitions))
	type pending struct {
		tp    txn.TopicPartition
		l     *commitlog.Log
		end   int64
		epoch int32
	}
	var waits []pending
	remote := map[int32][]txn.TopicPartition{}
	for _, tp := range m.Partitions {
		// In a cluster the coordinator sends each marker to the partition's
		// leader (Kafka's TransactionMarkerChannelManager), even when this
		// broker holds a follower replica of it.
		if !reportUnknown && h.deps.Brokers != nil {
			if t := im.Topic(tp.Topic); t != nil && tp.Partition >= 0 && int(tp.Partition) < len(t.Partitions) {
				if l := t.Partitions[tp.Partition].Leader; l != h.deps.NodeID {
					if l < 0 {
						out[tp] = fmt.Errorf("%w: %s-%d has no leader", replica.ErrNotLeader, tp.Topic, tp.Partition)
					} else {
						remote[l] = append(remote[l], tp)
					}
					continue
				}
			}
		}
		l, mp, err := h.partitionLog(im, tp.Topic, tp.Partition)
		if err != nil {
			// Done only when the partition is gone from the metadata: a
			// partition this broker leads but has no log for yet (its
			// replica not made) would otherwise keep its transaction open,
			// and a later abort marker of the producer would hide the
			// committed records.
			if errors.Is(err, errUnknownPartition) && !reportUnknown && !partitionExists(im, tp.Topic, tp.Partition) {
				err = nil
			}
			out[tp] = err
			continue
		}
		var res commitlog.AppendResult
		epoch, err := h.leaderAppend(tp.Topic, tp.Partition, -1, mp.LeaderEpoch, func(leaderEpoch int32) (err error) {
			res, err = l.AppendMarker(commitlog.MarkerAppend{
				ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Commit,
				CoordinatorEpoch: m.CoordinatorEpoch, LeaderEpoch: leaderEpoch,
			})
			return err
		})
		if err != nil {
			out[tp] = err
			continue
		}
		waits = append(waits, pending{tp, l, res.LastOffset + 1, epoch})
	}
	for node, tps := range remote {
		for tp, err := range h.writeMarkersRemote(ctx, node, m, tps) {
			out[tp] = err
		}
	}
	for _, w := range waits {
		if err := w.l.WaitDurable(ctx, w.end-1); err != nil {
			out[w.tp] = err
			continue
		}
		// On the ISR (acks=-1), as Kafka's coordinator writes markers.
		if err := h.produceCommitted(ctx, w.l, w.epoch, w.end, -1); err != nil {
			out[w.tp] = err
			continue
		}
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

// writeMarkersRemote sends the markers of tps to their leader, broker node,
// with WriteTxnMarkers; a partition without an answer gets the request's
// error.
func (h *Handlers) writeMarkersRemote(ctx context.Context, node int32, m txn.MarkerRequest, tps []txn.TopicPartition) map[txn.TopicPartition]error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	rm := kmsg.NewWriteTxnMarkersRequestMarker()
	rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			rm.Topics = append(rm.Topics, t)
			i = len(rm.Topics) - 1
			byTopic[tp.Topic] = i
		}
		rm.Topics[i].Partitions = append(rm.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, rm)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	out := make(map[txn.TopicPartition]error, len(tps))
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := h.deps.Brokers.Request(rctx, node, req, resp)
	if err == nil {
		err = fmt.Errorf("%w: no answer from broker %d", replica.ErrNotLeader, node)
		for _, am := range resp.Markers {
			if am.ProducerID != m.ProducerID {
				continue
			}
			for _, t := range am.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
						out[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = fmt.Errorf("marker on broker %d: %w", node, e)
					} else {
						out[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = nil
					}
				}
			}
		}
	}
	for _, tp := range tps {
		if _, ok := out[tp]; !ok {
			out[tp] = fmt.Errorf("write marker on broker %d: %w", node, err)
		}
	}
	return out
}
