package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// Heartbeat (API key 12): versions 0–4.
//
//	v1: ThrottleMillis
//	v3: GroupInstanceID, static membership (KIP-345)
//	v4: flexible versions (KIP-482)
func (h *Handlers) heartbeat(ctx context.Context, rc *RequestContext, req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	gc, err := h.groups()
	if err == nil {
		err = gc.Heartbeat(ctx, group.HeartbeatRequest{
			Group: req.Group, MemberID: req.MemberID, InstanceID: groupDeref(req.InstanceID), Generation: req.Generation,
		})
	}
	resp.ErrorCode = errorCode(err)
	h.logGroupError(ctx, rc, "heartbeat", req.Group, err)
	return resp
}
