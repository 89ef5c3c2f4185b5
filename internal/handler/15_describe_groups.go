package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (API key 15): versions 0–5.
//
//	v1: ThrottleMillis
//	v3: AuthorizedOperations (KIP-430): -2^31, "not asked", unless asked
//	v4: GroupInstanceID of members (KIP-345)
//	v5: flexible versions
//	v6: GROUP_ID_NOT_FOUND for unknown groups (KIP-1043) — not advertised:
//	    an unknown group is described as Dead with no error, as before
//
// Member metadata and assignments are filled in only for a Stable group.
func (h *Handlers) describeGroups(ctx context.Context, rc *RequestContext, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	gc, gerr := h.groups()
	for _, name := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = name
		g.AuthorizedOperations = -2147483648
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = groupOperations
		}
		if gerr != nil {
			g.ErrorCode = errorCode(gerr)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		sum, err := gc.DescribeGroup(ctx, name)
		if err != nil {
			g.ErrorCode = errorCode(err)
			h.logGroupError(ctx, rc, "describe groups", name, err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.ProtocolType, g.Protocol = sum.State.String(), sum.ProtocolType, sum.Protocol
		for _, m := range sum.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, groupStrPtr(m.InstanceID), m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// groupOperations is the AuthorizedOperations bit set of a group with no
// authorizer: READ(3), DELETE(6), DESCRIBE(8).
const groupOperations = 1<<3 | 1<<6 | 1<<8

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
