package handler

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// JoinGroup (API key 11): versions 0–9.
//
//	v1: RebalanceTimeoutMillis (KIP-62); v0 uses the session timeout
//	v2: ThrottleMillis
//	v4: MEMBER_ID_REQUIRED for a new member without id (KIP-394)
//	v5: GroupInstanceID, static membership (KIP-345)
//	v6: flexible versions
//	v7: ProtocolType in the response (KIP-559)
//	v8: Reason (KIP-800)
//	v9: SkipAssignment for a static leader rejoining a stable group (KIP-814)
func (h *Handlers) joinGroup(ctx context.Context, rc *RequestContext, req *kmsg.JoinGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	jr := group.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		InstanceID:           groupDeref(req.InstanceID),
		ClientID:             groupDeref(rc.Header.ClientID),
		ClientHost:           clientHost(rc.Peer),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
		SkipAssignmentOK:     req.Version >= 9,
	}
	if req.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	r := gc.JoinGroup(ctx, jr)
	resp.ErrorCode = errorCode(r.Err)
	resp.MemberID = r.MemberID
	if r.Err != nil {
		h.logGroupError(ctx, rc, "join group", req.Group, r.Err)
		return resp
	}
	resp.Generation = r.Generation
	resp.ProtocolType = kmsg.StringPtr(r.ProtocolType)
	resp.Protocol = kmsg.StringPtr(r.Protocol)
	resp.LeaderID = r.Leader
	resp.SkipAssignment = r.SkipAssignment
	for _, m := range r.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, groupStrPtr(m.InstanceID), m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
