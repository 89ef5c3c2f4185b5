package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/txn"
)

// txnAPIs serve idempotent producers and transactions (internal/txn, and
// the producer state of internal/commitlog). Versions stop before KIP-890
// part 2 (transaction version 2: TRANSACTION_ABORTABLE, implicit
// AddPartitions through Produce v12, epoch bump per transaction), which
// clients use only when the broker advertises the transaction.version
// feature; Kavka does not.
var txnAPIs = map[int16]api{
	22: {name: "InitProducerID", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).initProducerID)},
	24: {name: "AddPartitionsToTxn", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).addPartitionsToTxn)},
	25: {name: "AddOffsetsToTxn", minVersion: 0, maxVersion: 3, serve: adapt((*Handlers).addOffsetsToTxn)},
	26: {name: "EndTxn", minVersion: 0, maxVersion: 3, serve: adapt((*Handlers).endTxn)},
	27: {name: "WriteTxnMarkers", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).writeTxnMarkers)},
	28: {name: "TxnOffsetCommit", minVersion: 0, maxVersion: 3, serve: adapt((*Handlers).txnOffsetCommit)},
	61: {name: "DescribeProducers", minVersion: 0, maxVersion: 0, serve: adapt((*Handlers).describeProducers)},
	65: {name: "DescribeTransactions", minVersion: 0, maxVersion: 0, serve: adapt((*Handlers).describeTransactions)},
	66: {name: "ListTransactions", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).listTransactions)},
}

// errNoTxn is returned when the server runs without a transaction
// coordinator.
var errNoTxn = errors.New("handler: no transaction coordinator")

func (h *Handlers) txnCoordinator() (*txn.Coordinator, error) {
	if h.deps.Txn == nil {
		return nil, errNoTxn
	}
	return h.deps.Txn, nil
}

// appendProduce appends a client batch with the producer checks of the
// commit log; a transactional batch opening a transaction on the partition
// is verified with the coordinator first (KIP-890 part 1, RELIABILITY row
// 31): a late Produce of an ended transaction cannot start a new one.
func (h *Handlers) appendProduce(ctx context.Context, txnID *string, l *commitlog.Log, records []byte, leaderEpoch int32) (commitlog.ProducerAppendResult, error) {
	var verify func(int64, int16) error
	if c := h.deps.Txn; c != nil && !c.Config().NoPartitionVerification {
		verify = func(pid int64, epoch int16) error {
			if txnID == nil || *txnID == "" {
				return fmt.Errorf("%w: transactional batch without a transactional id", commitlog.ErrInvalidTxnState)
			}
			tp := txn.TopicPartition{Topic: l.Topic(), Partition: l.Partition()}
			if node, ok := h.internalLeader(txn.TopicName, c.PartitionFor(*txnID)); ok && h.deps.Brokers != nil {
				return h.verifyRemote(ctx, node, *txnID, pid, epoch, tp)
			}
			res, err := c.Verify(ctx, *txnID, pid, epoch, []txn.TopicPartition{tp})
			if err != nil {
				if errors.Is(err, txn.ErrProducerFenced) {
					return fmt.Errorf("%w: %w", commitlog.ErrInvalidProducerEpoch, err)
				}
				return fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, err)
			}
			return res[tp]
		}
	}
	return l.AppendProducer(records, leaderEpoch, verify)
}

// abortedTransactions lists the aborted transactions a read_committed
// fetch from offset up to maxOffset must know about.
func (h *Handlers) abortedTransactions(l *commitlog.Log, offset, maxOffset int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	ab, err := l.AbortedTransactions(offset, maxOffset)
	if err != nil {
		h.logger().Error("aborted transactions", "topic", l.Topic(), "partition", l.Partition(), "err", err)
		return out
	}
	for _, a := range ab {
		t := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		t.ProducerID, t.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, t)
	}
	return out
}

// findTxnCoordinator answers FindCoordinator for a transactional id: the
// leader of the partition of __transaction_state that owns it; this broker
// once it has loaded that partition.
func (h *Handlers) findTxnCoordinator(ctx context.Context, key string) (int32, int16) {
	c, err := h.txnCoordinator()
	if err != nil || key == "" {
		if key == "" {
			return -1, kerr.InvalidRequest.Code
		}
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	p := c.PartitionFor(key)
	if node, ok := h.internalLeader(txn.TopicName, p); ok {
		return node, 0
	}
	if err := c.Load(ctx, key); err != nil {
		if node, ok := h.internalLeader(txn.TopicName, p); ok {
			return node, 0
		}
		h.logger().Warn("find transaction coordinator", "transactional_id", key, "err", err)
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	return h.deps.NodeID, 0
}

// verifyRemote asks the transaction coordinator on broker node whether
// producer pid in epoch has added tp to its ongoing transaction
// (AddPartitionsToTxn v4 with VerifyOnly, as Kafka's partition leaders do
// since KIP-890). Errors are those of the local Verify.
func (h *Handlers) verifyRemote(ctx context.Context, node int32, txnID string, pid int64, epoch int16, tp txn.TopicPartition) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = txnID, pid, epoch, true
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
	tr.Topics = append(tr.Topics, rt)
	req.Transactions = append(req.Transactions, tr)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.deps.Brokers.Request(rctx, node, req, resp); err != nil {
		return fmt.Errorf("%w: %w: verify with broker %d: %w", commitlog.ErrInvalidTxnState, txn.ErrCoordinatorNotAvailable, node, err)
	}
	code := resp.ErrorCode
	if code == 0 {
		code = kerr.UnknownServerError.Code // no answer for the partition
		for _, t := range resp.Transactions {
			for _, rt := range t.Topics {
				for _, p := range rt.Partitions {
					if t.TransactionalID == txnID && rt.Topic == tp.Topic && p.Partition == tp.Partition {
						code = p.ErrorCode
					}
				}
			}
		}
	}
	switch code {
	case 0:
		return nil
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code:
		return fmt.Errorf("%w: %w", commitlog.ErrInvalidProducerEpoch, txn.ErrProducerFenced)
	case kerr.NotCoordinator.Code:
		return fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, txn.ErrNotCoordinator)
	case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		return fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, txn.ErrCoordinatorNotAvailable)
	case kerr.ConcurrentTransactions.Code:
		return fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, txn.ErrConcurrentTransactions)
	}
	return fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, kerr.ErrorForCode(code))
}
