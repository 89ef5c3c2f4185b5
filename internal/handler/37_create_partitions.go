package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions (API key 37): versions 0–3.
//
//	v1: no change (KIP-360 throttling)
//	v2: flexible versions
//	v3: no change (quota violations, KIP-599)
func (h *Handlers) createPartitions(_ context.Context, rc *RequestContext, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := make(map[string]int, len(req.Topics))
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if count[rt.Topic] > 1 {
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, strp("Duplicate topic name.")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var assignment [][]int32
		if rt.Assignment != nil {
			assignment = make([][]int32, len(rt.Assignment))
			for i, a := range rt.Assignment {
				assignment[i] = a.Replicas
			}
		}
		t, err := h.deps.Meta.CreatePartitions(rt.Topic, rt.Count, assignment, req.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = h.metaError(err, false, "create partitions "+rt.Topic)
		} else if !req.ValidateOnly {
			h.logger().Info("created partitions", "topic", rt.Topic, "partitions", len(t.Partitions), "peer", rc.Peer)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
