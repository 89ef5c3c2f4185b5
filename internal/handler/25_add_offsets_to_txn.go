package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn (API key 25): versions 0–3.
//
//	v1: no change
//	v2: PRODUCER_FENCED may replace INVALID_PRODUCER_EPOCH
//	v3: flexible versions
//	v4: TRANSACTION_ABORTABLE — not advertised
//
// Adds the group's __consumer_offsets partition to the transaction, so that
// a following TxnOffsetCommit is accepted.
func (h *Handlers) addOffsetsToTxn(ctx context.Context, _ *RequestContext, req *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	c, err := h.txnCoordinator()
	if err == nil {
		err = c.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
	}
	resp.ErrorCode = errorCode(err)
	if resp.ErrorCode == kerr.ProducerFenced.Code && req.Version < 2 {
		resp.ErrorCode = kerr.InvalidProducerEpoch.Code
	}
	return resp
}
