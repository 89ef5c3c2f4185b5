package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// SyncGroup (API key 14): versions 0–5.
//
//	v1: ThrottleMillis
//	v3: GroupInstanceID (KIP-345)
//	v4: flexible versions
//	v5: ProtocolType and Protocol in request and response (KIP-559)
func (h *Handlers) syncGroup(ctx context.Context, rc *RequestContext, req *kmsg.SyncGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	sr := group.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   groupDeref(req.InstanceID),
		Generation:   req.Generation,
		ProtocolType: groupDeref(req.ProtocolType),
		Protocol:     groupDeref(req.Protocol),
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	r := gc.SyncGroup(ctx, sr)
	if r.Err != nil {
		resp.ErrorCode = errorCode(r.Err)
		h.logGroupError(ctx, rc, "sync group", req.Group, r.Err)
		return resp
	}
	resp.ProtocolType = kmsg.StringPtr(r.ProtocolType)
	resp.Protocol = kmsg.StringPtr(r.Protocol)
	resp.MemberAssignment = r.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}
