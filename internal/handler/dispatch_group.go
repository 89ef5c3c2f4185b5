package handler

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"

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

// groupErrorCode maps the group coordinator's errors to Kafka's codes and
// defers to errorCode for the rest.
func groupErrorCode(err error) int16 {
	for _, e := range []struct {
		err  error
		code int16
	}{
		{group.ErrUnknownMember, kerr.UnknownMemberID.Code},
		{group.ErrIllegalGeneration, kerr.IllegalGeneration.Code},
		{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol.Code},
		{group.ErrRebalanceInProgress, kerr.RebalanceInProgress.Code},
		{group.ErrMemberIDRequired, kerr.MemberIDRequired.Code},
		{group.ErrFencedInstanceID, kerr.FencedInstanceID.Code},
		{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout.Code},
		{group.ErrGroupMaxSize, kerr.GroupMaxSizeReached.Code},
		{group.ErrInvalidGroupID, kerr.InvalidGroupID.Code},
		{group.ErrNotCoordinator, kerr.NotCoordinator.Code},
		{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable.Code},
		{errNoGroups, kerr.CoordinatorNotAvailable.Code},
		{group.ErrGroupNotFound, kerr.GroupIDNotFound.Code},
		{group.ErrNonEmptyGroup, kerr.NonEmptyGroup.Code},
		{group.ErrSubscribedToTopic, kerr.GroupSubscribedToTopic.Code},
		{group.ErrMetadataTooLarge, kerr.OffsetMetadataTooLarge.Code},
		{group.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition.Code},
		{group.ErrRequestTimedOut, kerr.RequestTimedOut.Code},
		{group.ErrInvalidRequest, kerr.InvalidRequest.Code},
		{group.ErrUnsupportedVersion, kerr.UnsupportedVersion.Code},
		{group.ErrUnsupportedAssignor, kerr.UnsupportedAssignor.Code},
		{group.ErrFencedMemberEpoch, kerr.FencedMemberEpoch.Code},
		{group.ErrStaleMemberEpoch, kerr.StaleMemberEpoch.Code},
		{group.ErrUnreleasedInstanceID, kerr.UnreleasedInstanceID.Code},
		{group.ErrInvalidRegex, kerr.InvalidRegularExpression.Code},
	} {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return errorCode(err)
}

// logGroupError logs an error the client cannot act on, once.
func (h *Handlers) logGroupError(ctx context.Context, rc *RequestContext, api, grp string, err error) {
	if code := groupErrorCode(err); isUnexpected(code) {
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
