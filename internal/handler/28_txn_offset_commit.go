package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/txn"
)

// TxnOffsetCommit (API key 28): versions 0–3.
//
//	v2: CommittedLeaderEpoch
//	v3: GenerationID, MemberID, GroupInstanceID, flexible versions (KIP-447):
//	    the group fences zombie members
//	v4: TRANSACTION_ABORTABLE, v5: transaction version 2 — not advertised
//
// The group coordinator writes the offsets as a transactional batch of the
// producer; they become visible to the group (OffsetFetch) only when the
// transaction commits. An append whose KIP-890 verification a marker of the
// producer overtook answers INVALID_TXN_STATE (as Kafka's since KAFKA-15449).
func (h *Handlers) txnOffsetCommit(ctx context.Context, _ *RequestContext, req *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	r := txn.TxnCommitRequest{
		TransactionalID: req.TransactionalID, Group: req.Group, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch,
		Generation: -1, Offsets: map[txn.TopicPartition]txn.Offset{},
	}
	if req.Version >= 3 {
		r.MemberID, r.Generation = req.MemberID, req.Generation
		if req.InstanceID != nil {
			r.InstanceID = *req.InstanceID
		}
	}
	tooLarge := map[txn.TopicPartition]bool{}
	maxMeta := 4096 // offset.metadata.max.bytes
	if h.deps.Groups != nil {
		maxMeta = h.deps.Groups.Config().OffsetMetadataMaxBytes
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			o := txn.Offset{Offset: p.Offset, LeaderEpoch: -1}
			if req.Version >= 2 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			if len(o.Metadata) > maxMeta {
				tooLarge[tp] = true
				continue
			}
			r.Offsets[tp] = o
		}
	}
	c, err := h.txnCoordinator()
	if err == nil {
		err = h.commitTxnOffsets(ctx, c, r)
	}
	code := errorCode(err)
	if code == kerr.ProducerFenced.Code && req.Version < 2 {
		code = kerr.InvalidProducerEpoch.Code
	}
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			if tooLarge[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commitTxnOffsets writes the offsets at this broker, the group's
// coordinator. When another broker coordinates the transactional id (the
// leaders of the two internal partitions differ), this one has no shard
// of it: it asks that broker whether the producer's ongoing transaction
// includes the group's offsets partition (AddPartitionsToTxn v4
// VerifyOnly, as Kafka's group coordinator verifies a TxnOffsetCommit
// since KIP-890) and then writes them. Asking the local transaction
// coordinator instead answered NOT_COORDINATOR for ever, because the client
// finds the group's coordinator again, which is this broker (chaos F18b).
//
// Before verifying, it takes the producer's verification guard on the
// offsets partition (KIP-890 part 1, Kafka's
// maybeStartTransactionVerificationForPartition): a marker of the producer
// that reaches the partition after the verification (the client gave up on
// this request and ended the transaction) clears it, and the append is
// refused with INVALID_TXN_STATE instead of leaving the offsets pending in
// a transaction that already ended.
func (h *Handlers) commitTxnOffsets(ctx context.Context, c *txn.Coordinator, r txn.TxnCommitRequest) error {
	op := c.OffsetsPartition(r.Group)
	if l, _, err := h.partitionLog(h.deps.Image(), op.Topic, op.Partition); err == nil && r.Group != "" && r.TransactionalID != "" {
		g, err := l.StartTxnVerification(r.ProducerID)
		if err != nil {
			return err
		}
		r.Guard = g
	}
	node, ok := h.internalLeader(txn.TopicName, c.PartitionFor(r.TransactionalID))
	if !ok || h.deps.Brokers == nil || r.TransactionalID == "" {
		return c.CommitOffsets(ctx, r)
	}
	if err := h.verifyRemote(ctx, node, r.TransactionalID, r.ProducerID, r.Epoch, op); err != nil {
		return err
	}
	return c.CommitVerifiedOffsets(ctx, r)
}
