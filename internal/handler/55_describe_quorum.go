package handler

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// DescribeQuorum (API key 55): versions 0–1 (KIP-595, KIP-836). It describes
// the metadata quorum (__cluster_metadata-0): leader, epoch (the raft term),
// high watermark (the commit index), voters and observers (learners) with
// their log end offsets as the leader knows them. A node that is not the
// leader asks the leader (Kafka's brokers forward DescribeQuorum to the
// active controller); failing that it answers with what it knows: the
// leader and epoch, offsets -1.
//
//	v1: LastFetchTimestamp, LastCaughtUpTimestamp (-1: not tracked)
func (h *Handlers) describeQuorum(_ context.Context, _ *RequestContext, req *kmsg.DescribeQuorumRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadata.ClusterMetadataTopic || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				fillQuorum(&sp, h.deps.Meta.DescribeQuorum())
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func fillQuorum(sp *kmsg.DescribeQuorumResponseTopicPartition, q metadata.QuorumStatus) {
	sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = q.Leader, int32(q.Term), int64(q.Commit)
	state := func(id int32) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset, rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = id, -1, -1, -1
		for _, p := range q.Progress {
			if p.ID == id {
				rs.LogEndOffset = p.LogEnd
			}
		}
		return rs
	}
	voters := slices.Sorted(slices.Values(q.Voters))
	for _, id := range voters {
		sp.CurrentVoters = append(sp.CurrentVoters, state(id))
	}
	for _, id := range slices.Sorted(slices.Values(q.Learners)) {
		sp.Observers = append(sp.Observers, state(id))
	}
}
