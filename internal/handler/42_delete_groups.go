package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (API key 42): versions 0–2.
//
//	v1: no change
//	v2: flexible versions
//
// A group with members answers NON_EMPTY_GROUP; deleting writes tombstones
// for the group and each of its offsets, durable before the answer.
func (h *Handlers) deleteGroups(ctx context.Context, rc *RequestContext, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	gc, gerr := h.groups()
	for _, name := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = name
		err := gerr
		if err == nil {
			err = gc.DeleteGroup(ctx, name)
		}
		g.ErrorCode = errorCode(err)
		h.logGroupError(ctx, rc, "delete groups", name, err)
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}
