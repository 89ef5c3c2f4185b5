package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
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
//
// As in Kafka (Partition.lastOffsetForLeaderEpoch) the end offset is not
// bounded by the high watermark, for consumers either: a consumer asks for
// the epoch of the last record it read, which is below the old leader's
// high watermark and therefore on the new leader, while the new leader's
// own high watermark lags until its followers fetch in the new epoch.
// Clamping made clients "detect truncation" there and read records again.
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
				sp.LeaderEpoch, sp.EndOffset = h.endOffsetForEpoch(l, rt.Topic, rp.Partition, rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// endOffsetForEpoch is the leader's end offset of epoch: the replica's
// answer, which counts the current leader epoch from its start even before
// anything was appended in it (Kafka writes it to the cache at election),
// else (a single node without replicas) the log's leader-epoch cache.
func (h *Handlers) endOffsetForEpoch(l *commitlog.Log, topic string, partition, epoch int32) (int32, int64) {
	if h.deps.Replicas != nil {
		if p := h.deps.Replicas.Partition(topic, partition); p != nil {
			return p.EndOffsetForEpoch(epoch)
		}
	}
	return l.LeaderEpochs().EndOffsetFor(epoch)
}
