package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/txn"
)

// AddPartitionsToTxn (API key 24): versions 0–4.
//
//	v1: no change
//	v2: PRODUCER_FENCED may replace INVALID_PRODUCER_EPOCH
//	v3: flexible versions
//	v4: batched Transactions with VerifyOnly, for brokers (KIP-890 part 1)
//	v5: TRANSACTION_ABORTABLE — not advertised
//
// A partition of an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION and
// the others with OPERATION_NOT_ATTEMPTED, as Kafka does.
func (h *Handlers) addPartitionsToTxn(ctx context.Context, _ *RequestContext, req *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		topics := make(map[string][]int32, len(req.Topics))
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := h.addPartitionsOne(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics, req.Version)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[txn.TopicPartition{Topic: t.Topic, Partition: p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tr := range req.Transactions {
		topics := make(map[string][]int32, len(tr.Topics))
		for _, t := range tr.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := h.addPartitionsOne(ctx, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly, topics, req.Version)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tr.TransactionalID
		for _, t := range tr.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[txn.TopicPartition{Topic: t.Topic, Partition: p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

// addPartitionsOne serves one transaction's partitions and returns a code
// per partition.
func (h *Handlers) addPartitionsOne(ctx context.Context, id string, pid int64, epoch int16, verifyOnly bool, topics map[string][]int32, version int16) map[txn.TopicPartition]int16 {
	codes := make(map[txn.TopicPartition]int16)
	var parts []txn.TopicPartition
	im := h.deps.Image()
	unknown := false
	for topic, ps := range topics {
		t := im.Topic(topic)
		for _, p := range ps {
			tp := txn.TopicPartition{Topic: topic, Partition: p}
			parts = append(parts, tp)
			if t == nil || p < 0 || int(p) >= len(t.Partitions) {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				unknown = true
			}
		}
	}
	setAll := func(code int16) {
		for _, tp := range parts {
			if _, ok := codes[tp]; !ok {
				codes[tp] = code
			}
		}
	}
	if unknown {
		setAll(kerr.OperationNotAttempted.Code)
		return codes
	}
	c, err := h.txnCoordinator()
	if err != nil {
		setAll(errorCode(err))
		return codes
	}
	if verifyOnly {
		res, err := c.Verify(ctx, id, pid, epoch, parts)
		if err != nil {
			setAll(errorCode(err))
			return codes
		}
		for tp, e := range res {
			codes[tp] = errorCode(e)
		}
		return codes
	}
	code := errorCode(c.AddPartitions(ctx, id, pid, epoch, parts))
	if code == kerr.ProducerFenced.Code && version < 2 {
		code = kerr.InvalidProducerEpoch.Code
	}
	setAll(code)
	return codes
}
