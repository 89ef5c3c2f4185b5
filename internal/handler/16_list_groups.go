package handler

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// ListGroups (API key 16): versions 0–5.
//
//	v1: ThrottleMillis
//	v3: flexible versions
//	v4: StatesFilter and GroupState (KIP-518), case-insensitive
//	v5: TypesFilter and GroupType (KIP-848): "classic" or "consumer"
func (h *Handlers) listGroups(ctx context.Context, rc *RequestContext, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	groups, err := gc.ListGroups(ctx)
	if err != nil {
		// Kafka answers with the groups it has and COORDINATOR_LOAD_IN_PROGRESS
		// while partitions load; a partition that failed to load is the same
		// to a client: retry later.
		resp.ErrorCode = errorCode(err)
		h.logGroupError(ctx, rc, "list groups", "", err)
	}
	var states []group.State
	for _, s := range req.StatesFilter {
		if st, ok := group.ParseState(s); ok {
			states = append(states, st)
		} else {
			states = append(states, -1) // matches nothing, as Kafka's unknown state
		}
	}
	for _, g := range groups {
		if len(states) > 0 && !slices.Contains(states, g.State) {
			continue
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, g.Type) }) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.Group, g.ProtocolType, g.State.String(), g.Type
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
