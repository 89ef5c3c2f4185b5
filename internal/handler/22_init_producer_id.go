package handler

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/txn"
)

// InitProducerId (API key 22): versions 0–4.
//
//	v1: no change (throttle on quota violation)
//	v2: flexible versions
//	v3: ProducerID, ProducerEpoch: an existing producer bumps its epoch
//	    instead of taking a new id (KIP-360)
//	v4: PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH (KIP-588)
//	v5: TRANSACTION_ABORTABLE (KIP-890), v6: 2PC (KIP-939) — not advertised
//
// A null transactional id is an idempotent producer: a fresh producer id
// from a durable block, epoch 0. An empty one is INVALID_REQUEST.
func (h *Handlers) initProducerID(ctx context.Context, _ *RequestContext, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	c, err := h.txnCoordinator()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	r := txn.InitRequest{ProducerID: -1, Epoch: -1, Timeout: time.Duration(req.TransactionTimeoutMillis) * time.Millisecond}
	if req.TransactionalID != nil {
		if *req.TransactionalID == "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp
		}
		r.TransactionalID = *req.TransactionalID
	}
	if req.Version >= 3 {
		r.ProducerID, r.Epoch = req.ProducerID, req.ProducerEpoch
	}
	pid, epoch, err := c.InitProducerID(ctx, r)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if resp.ErrorCode == kerr.ProducerFenced.Code && req.Version < 4 {
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code
		}
		if isUnexpected(resp.ErrorCode) {
			h.logger().Error("init producer id", "transactional_id", r.TransactionalID, "err", err)
		}
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return resp
}
