package handler

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/replica"
)

// The hooks between the data APIs and internal/replica. With Deps.Replicas
// nil (handler tests, tools) they keep the single-node behaviour: the image
// says who leads and the high watermark is the durable end.

// leaderAppend runs appendFn, which appends with the leader epoch it gets,
// as the partition's leader: NOT_LEADER_OR_FOLLOWER if this broker is not,
// NOT_ENOUGH_REPLICAS for acks=-1 below min.insync.replicas. It returns the
// epoch the batch was stamped with.
func (h *Handlers) leaderAppend(topic string, partition int32, acks int16, imageEpoch int32, appendFn func(leaderEpoch int32) error) (int32, error) {
	if h.deps.Replicas == nil {
		return imageEpoch, appendFn(imageEpoch)
	}
	p := h.deps.Replicas.Partition(topic, partition)
	if p == nil {
		return -1, fmt.Errorf("%w: no replica of %s-%d here", replica.ErrNotLeader, topic, partition)
	}
	return p.AppendWith(acks, int(h.topicConfig(topic).MinInsyncReplicas), appendFn)
}

// produceCommitted finishes an append once it is durable on the leader: the
// high watermark may move, and acks=-1 waits until it passes end (the
// offset after the batch) or ctx ends (REQUEST_TIMED_OUT).
func (h *Handlers) produceCommitted(ctx context.Context, l *commitlog.Log, epoch int32, end int64, acks int16) error {
	if h.deps.Replicas == nil {
		h.advanceHighWatermark(l, end)
		return nil
	}
	p := h.deps.Replicas.Partition(l.Topic(), l.Partition())
	if p == nil {
		return fmt.Errorf("%w: replica of %s-%d removed", replica.ErrNotLeader, l.Topic(), l.Partition())
	}
	p.LeaderDurable()
	if acks != -1 {
		return nil
	}
	return p.WaitCommitted(ctx, epoch, end, int(h.topicConfig(l.Topic()).MinInsyncReplicas))
}

// leaderEpochCode checks a client read (Fetch, ListOffsets,
// OffsetForLeaderEpoch): KIP-320 fencing of its current leader epoch, and
// NOT_LEADER_OR_FOLLOWER when this broker does not lead the partition.
func (h *Handlers) leaderEpochCode(current int32, topic string, mp *metadata.Partition) int16 {
	if code := checkLeaderEpoch(current, mp); code != 0 || h.deps.Replicas == nil {
		return code
	}
	p := h.deps.Replicas.Partition(topic, mp.Index)
	if p == nil {
		return kerr.NotLeaderForPartition.Code
	}
	return errorCode(p.CheckLeader(current))
}

// replicaFetch serves a Fetch with a replica id: only a broker of the
// cluster may fetch as a replica (CVE-2018-1288); it reads up to the
// leader's durable end and moves the follower's state, ISR and high
// watermark.
func (h *Handlers) replicaFetch(ctx context.Context, req *kmsg.FetchRequest, replicaID int32) kmsg.Response {
	if h.deps.Replicas == nil || h.deps.Image().Broker(replicaID) == nil || replicaID == h.deps.NodeID {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	return h.deps.Replicas.ServeReplicaFetch(ctx, replicaID, req, func(id [16]byte) string {
		if t := h.deps.Image().TopicByID(id); t != nil {
			return t.Name
		}
		return ""
	})
}

// epochIf returns the request's current leader epoch where the version has
// one, else -1 (no fencing).
func epochIf(has bool, epoch int32) int32 {
	if has {
		return epoch
	}
	return -1
}
