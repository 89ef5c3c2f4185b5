package handler

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// AlterPartitionReassignments (API key 45): versions 0–1 (KIP-455). Each
// partition names its target replicas, or null to cancel the reassignment in
// progress. The controller adds the new replicas, which catch up as
// followers; once they are all in the ISR the replica set switches to the
// target and removed replicas delete their logs (metadata/reassign.go).
//
//	v0: flexible versions
//	v1: AllowReplicationFactorChange (KIP-860): false refuses a target
//	    whose size differs from the current replication factor
func (h *Handlers) alterPartitionReassignments(_ context.Context, _ *RequestContext, req *kmsg.AlterPartitionAssignmentsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	im := h.deps.Meta.Image()
	reqs := map[string]map[int32][]int32{}
	refused := map[string]map[int32]error{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if req.Version >= 1 && !req.AllowReplicationFactorChange && rp.Replicas != nil {
				if t := im.Topic(rt.Topic); t != nil && int(rp.Partition) < len(t.Partitions) && rp.Partition >= 0 {
					p := &t.Partitions[rp.Partition]
					rf := len(p.Replicas) - len(p.AddingReplicas)
					if len(rp.Replicas) != rf {
						if refused[rt.Topic] == nil {
							refused[rt.Topic] = map[int32]error{}
						}
						refused[rt.Topic][rp.Partition] = &metadata.Error{Kind: metadata.ErrInvalidReplicationFactor,
							Msg: fmt.Sprintf("The replication factor is changed from %d to %d but allowReplicationFactorChange is false", rf, len(rp.Replicas))}
						continue
					}
				}
			}
			if reqs[rt.Topic] == nil {
				reqs[rt.Topic] = map[int32][]int32{}
			}
			reqs[rt.Topic][rp.Partition] = slices.Clone(rp.Replicas)
		}
	}
	res := map[string]map[int32]error{}
	if len(reqs) > 0 {
		var err error
		if res, err = h.deps.Meta.AlterReassignments(reqs); err != nil {
			resp.ErrorCode, resp.ErrorMessage = errorCode(err), clientMessage(err)
			return resp
		}
	}
	for name, m := range refused {
		if res[name] == nil {
			res[name] = map[int32]error{}
		}
		for p, err := range m {
			res[name][p] = err
		}
	}
	for name, idxs := range sortedResults(res) {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = name
		for _, i := range idxs {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = i
			if err := res[name][i]; err != nil {
				rp.ErrorCode, rp.ErrorMessage = errorCode(err), clientMessage(err)
				if rp.ErrorMessage == nil {
					rp.ErrorMessage = strp(kerr.ErrorForCode(rp.ErrorCode).Error())
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
