package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch (API key 23): versions 0–4.
//
//	v1: LeaderEpoch in the response (KIP-279)
//	v2: CurrentLeaderEpoch fencing (KIP-320)
//	v3: ReplicaID (KIP-392)
//	v4: flexible versions
//
// Consumers use it to detect log truncation after a leader change (KIP-320):
// the answer is the largest epoch ≤ the requested one and the offset where
// the next epoch starts, from the log's leader-epoch cache.
func (h *Handlers) offsetForLeaderEpoch(_ context.Context, _ *RequestContext, req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	im := h.deps.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			l, mp, err := h.partitionLog(im, rt.Topic, rp.Partition)
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case h.leaderEpochCode(epochIf(req.Version >= 2, rp.CurrentLeaderEpoch), rt.Topic, mp) != 0:
				sp.ErrorCode = h.leaderEpochCode(epochIf(req.Version >= 2, rp.CurrentLeaderEpoch), rt.Topic, mp)
			default:
				sp.LeaderEpoch, sp.EndOffset = l.LeaderEpochs().EndOffsetFor(rp.LeaderEpoch)
				if sp.EndOffset > l.HighWatermark() && req.ReplicaID < 0 {
					// Consumers never see past the high watermark.
					sp.EndOffset = l.HighWatermark()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
