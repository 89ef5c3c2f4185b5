package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartition (API key 56): versions 0–1. A partition leader proposes a
// new ISR to the active controller (KIP-497). The proposal names the leader
// and partition epochs it was made from; a stale one is
// INVALID_UPDATE_VERSION / FENCED_LEADER_EPOCH, a fenced or unassigned
// replica INELIGIBLE_REPLICA (KIP-841).
//
//	v1: LeaderRecoveryState (KIP-704; always 0 here)
//
// v2+ name topics by id and v3 adds broker epochs per ISR member (KIP-903);
// not served yet.
func (h *Handlers) alterPartition(_ context.Context, _ *RequestContext, req *kmsg.AlterPartitionRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	im := h.deps.Meta.Image()
	if req.BrokerEpoch != -1 {
		if r := im.Registration(req.BrokerID); h.deps.Meta.Replicated() && (r == nil || r.Epoch != req.BrokerEpoch) {
			resp.ErrorCode = kerr.StaleBrokerEpoch.Code
			return resp
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			err := h.deps.Meta.AlterPartition(rt.Topic, rp.Partition, req.BrokerID, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if cur := h.deps.Meta.Image().Topic(rt.Topic); cur != nil && sp.ErrorCode == kerr.InvalidUpdateVersion.Code &&
					int(rp.Partition) < len(cur.Partitions) && cur.Partitions[rp.Partition].LeaderEpoch != rp.LeaderEpoch {
					sp.ErrorCode = kerr.FencedLeaderEpoch.Code
				}
			} else if t := h.deps.Meta.Image().Topic(rt.Topic); t != nil && int(rp.Partition) < len(t.Partitions) {
				p := t.Partitions[rp.Partition]
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
