package handler

import (
	"context"
	"errors"
	"sort"

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
	names := make([]string, 0, len(res))
	for n := range res {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = name
		idxs := make([]int32, 0, len(res[name]))
		for i := range res[name] {
			idxs = append(idxs, i)
		}
		sort.Slice(idxs, func(a, b int) bool { return idxs[a] < idxs[b] })
		for _, i := range idxs {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = i
			if err := res[name][i]; err != nil {
				rp.ErrorCode = errorCode(err)
				var me *metadata.Error
				if errors.As(err, &me) {
					rp.ErrorMessage = strp(me.Msg)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
