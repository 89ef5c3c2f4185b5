package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/txn"
)

// ListTransactions (API key 66): versions 0–1 (KIP-664).
//
//	v1: DurationFilterMillis: only transactions open longer (KIP-994)
//	v2: TransactionalIDPattern (KIP-1152) — not advertised
//
// Loads every partition of __transaction_state; one that fails to load
// makes the answer COORDINATOR_LOAD_IN_PROGRESS with what was found.
func (h *Handlers) listTransactions(ctx context.Context, _ *RequestContext, req *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	c, err := h.txnCoordinator()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	states := map[txn.State]bool{}
	for _, s := range req.StateFilters {
		st, perr := kmsg.ParseTransactionState(s)
		if perr != nil {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[txn.State(st)] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	all, err := c.List(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	now := h.clock().Now()
	for _, d := range all {
		if len(req.StateFilters) > 0 && !states[d.State] {
			continue
		}
		if len(pids) > 0 && !pids[d.ProducerID] {
			continue
		}
		if req.Version >= 1 && req.DurationFilterMillis >= 0 && (d.Start.IsZero() || now.Sub(d.Start).Milliseconds() < req.DurationFilterMillis) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = d.TransactionalID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}
