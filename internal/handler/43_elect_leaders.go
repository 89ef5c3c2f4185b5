package handler

import (
	"context"
	"errors"
	"iter"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// ElectLeaders (API key 43): versions 0–2 (KIP-183, KIP-460). Preferred
// elections make the first replica leader when it is live and in the ISR;
// unclean ones give a leaderless partition a live replica outside the ISR
// (losing data). Null Topics means every partition.
//
//	v1: ElectionType (0 preferred, 1 unclean), top-level ErrorCode
//	v2: flexible versions
func (h *Handlers) electLeaders(_ context.Context, _ *RequestContext, req *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	var parts map[string][]int32
	if req.Topics != nil {
		parts = map[string][]int32{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	res, err := h.deps.Meta.ElectLeaders(req.ElectionType == 1, parts)
	if err != nil {
		code := errorCode(err)
		if req.Version >= 1 {
			resp.ErrorCode = code
		}
		// v0 has no top-level code: report it on every partition asked.
		for name, idxs := range parts {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = name
			for _, i := range idxs {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = i, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for name, idxs := range sortedResults(res) {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = name
		for _, i := range idxs {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = i
			if err := res[name][i]; err != nil {
				rp.ErrorCode, rp.ErrorMessage = errorCode(err), clientMessage(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// sortedResults yields the topics of per-partition results in name order,
// each with its partition indexes in order: the order in which the
// ElectLeaders and AlterPartitionReassignments responses list them.
func sortedResults(res map[string]map[int32]error) iter.Seq2[string, []int32] {
	return func(yield func(string, []int32) bool) {
		for _, name := range slices.Sorted(maps.Keys(res)) {
			if !yield(name, slices.Sorted(maps.Keys(res[name]))) {
				return
			}
		}
	}
}

// clientMessage is the message a metadata.Error carries for the client, or
// nil for any other error.
func clientMessage(err error) *string {
	var me *metadata.Error
	if errors.As(err, &me) {
		return strp(me.Msg)
	}
	return nil
}
