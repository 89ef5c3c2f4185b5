package handler

import (
	"context"
	"errors"
	"net"

	"github.com/kavka-io/kavka/internal/group"
)

// groupAPIs serve consumer groups and committed offsets (internal/group):
// the classic protocol and KIP-848's ConsumerGroupHeartbeat (68) and
// ConsumerGroupDescribe (69). With group.coordinator.rebalance.protocols
// lacking consumer, 68 answers UNSUPPORTED_VERSION and clients fall back.
var groupAPIs = map[int16]api{
	8:  {name: "OffsetCommit", minVersion: 0, maxVersion: 9, serve: adapt((*Handlers).offsetCommit)},
	9:  {name: "OffsetFetch", minVersion: 0, maxVersion: 9, serve: adapt((*Handlers).offsetFetch)},
	10: {name: "FindCoordinator", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).findCoordinator)},
	11: {name: "JoinGroup", minVersion: 0, maxVersion: 9, serve: adapt((*Handlers).joinGroup)},
	12: {name: "Heartbeat", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).heartbeat)},
	13: {name: "LeaveGroup", minVersion: 0, maxVersion: 5, serve: adapt((*Handlers).leaveGroup)},
	14: {name: "SyncGroup", minVersion: 0, maxVersion: 5, serve: adapt((*Handlers).syncGroup)},
	15: {name: "DescribeGroups", minVersion: 0, maxVersion: 5, serve: adapt((*Handlers).describeGroups)},
	16: {name: "ListGroups", minVersion: 0, maxVersion: 5, serve: adapt((*Handlers).listGroups)},
	42: {name: "DeleteGroups", minVersion: 0, maxVersion: 2, serve: adapt((*Handlers).deleteGroups)},
	47: {name: "OffsetDelete", minVersion: 0, maxVersion: 0, serve: adapt((*Handlers).offsetDelete)},
	68: {name: "ConsumerGroupHeartbeat", minVersion: 1, maxVersion: 1, serve: adapt((*Handlers).consumerGroupHeartbeat)},
	69: {name: "ConsumerGroupDescribe", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).consumerGroupDescribe)},
}

// errNoGroups is returned when the server runs without a group coordinator.
var errNoGroups = errors.New("handler: no group coordinator")

// groups returns the group coordinator, or nil with errNoGroups.
func (h *Handlers) groups() (*group.Coordinator, error) {
	if h.deps.Groups == nil {
		return nil, errNoGroups
	}
	return h.deps.Groups, nil
}

// logGroupError logs an error the client cannot act on, once.
func (h *Handlers) logGroupError(ctx context.Context, rc *RequestContext, api, grp string, err error) {
	if code := errorCode(err); isUnexpected(code) {
		h.logger().ErrorContext(ctx, api, "group", grp, "peer", rc.Peer, "err", err)
	}
}

func groupStrPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func groupDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clientHost is the member's host as Kafka reports it ("/10.0.0.1").
func clientHost(peer string) string {
	if host, _, err := net.SplitHostPort(peer); err == nil {
		return "/" + host
	}
	return "/" + peer
}
