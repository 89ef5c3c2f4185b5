package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions (API key 65): version 0 (KIP-664), flexible.
func (h *Handlers) describeTransactions(ctx context.Context, _ *RequestContext, req *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	c, cerr := h.txnCoordinator()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		if cerr != nil {
			st.ErrorCode = errorCode(cerr)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		d, ok, err := c.Describe(ctx, id)
		switch {
		case err != nil:
			st.ErrorCode = errorCode(err)
		case !ok:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State = d.State.String()
			st.TimeoutMillis = int32(d.Timeout.Milliseconds())
			if !d.Start.IsZero() {
				st.StartTimestamp = d.Start.UnixMilli()
			}
			st.ProducerID, st.ProducerEpoch = d.ProducerID, d.Epoch
			for _, tp := range d.Partitions {
				if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
					st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
					continue
				}
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
				st.Topics = append(st.Topics, t)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}
