package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// LeaveGroup (API key 13): versions 0–5.
//
//	v1: ThrottleMillis
//	v3: batched Members with GroupInstanceID (KIP-345); MemberID moves into them
//	v4: flexible versions
//	v5: Reason (KIP-800)
func (h *Handlers) leaveGroup(ctx context.Context, rc *RequestContext, req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	var leaving []group.LeaveMember
	if req.Version < 3 {
		leaving = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			leaving = append(leaving, group.LeaveMember{MemberID: m.MemberID, InstanceID: groupDeref(m.InstanceID)})
		}
	}
	errs, err := gc.LeaveGroup(ctx, req.Group, leaving)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		h.logGroupError(ctx, rc, "leave group", req.Group, err)
		return resp
	}
	if req.Version < 3 {
		resp.ErrorCode = errorCode(errs[0])
		return resp
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
