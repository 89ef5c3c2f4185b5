package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (API key 26): versions 0–3.
//
//	v1: no change
//	v2: PRODUCER_FENCED may replace INVALID_PRODUCER_EPOCH
//	v3: flexible versions
//	v4: TRANSACTION_ABORTABLE, v5: epoch bump per transaction (KIP-890
//	    part 2) — not advertised
//
// Answers once the decision (PrepareCommit/PrepareAbort) is durable and
// the markers are written, or at most 500 ms after the decision (Kafka
// answers at once; docs/adr/0010): the producer's next transactional request
// gets CONCURRENT_TRANSACTIONS until they are written (Complete*).
func (h *Handlers) endTxn(ctx context.Context, _ *RequestContext, req *kmsg.EndTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	c, err := h.txnCoordinator()
	if err == nil {
		err = c.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	}
	resp.ErrorCode = errorCode(err)
	if resp.ErrorCode == kerr.ProducerFenced.Code && req.Version < 2 {
		resp.ErrorCode = kerr.InvalidProducerEpoch.Code
	}
	if isUnexpected(resp.ErrorCode) {
		h.logger().Error("end txn", "transactional_id", req.TransactionalID, "err", err)
	}
	return resp
}
