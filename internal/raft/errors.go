package raft

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is matched (errors.Is) by every *NotLeaderError.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrStopped is returned by requests to a Node whose Run has returned.
	// (Before Run starts, requests wait, bounded by their context.)
	ErrStopped = errors.New("raft: node stopped")
	// ErrBusy is returned when MaxPending requests are already waiting.
	ErrBusy = errors.New("raft: too many pending requests")
	// ErrConfChangeInProgress is returned when a membership change is
	// requested while another one proposed by this node is not yet applied.
	ErrConfChangeInProgress = errors.New("raft: membership change in progress")
	// ErrInvalidConfChange is returned for a membership change that makes no
	// sense against the applied configuration (e.g. demoting a voter).
	ErrInvalidConfChange = errors.New("raft: invalid membership change")
	// ErrTransferAborted is returned when raft gave up a leadership transfer.
	ErrTransferAborted = errors.New("raft: leadership transfer aborted")
)

// NotLeaderError says that a request needs the leader. Leader is the current
// leader as this node knows it (0 if none), a hint for redirecting the
// request (Kafka's NOT_CONTROLLER with the active controller id).
type NotLeaderError struct {
	Leader uint64
	// Indeterminate is set when this node lost leadership after accepting a
	// proposal: the entry may still commit under the next leader, or not.
	Indeterminate bool
}

func (e *NotLeaderError) Error() string {
	if e.Indeterminate {
		return fmt.Sprintf("raft: leadership lost with the proposal in flight (leader now %d); it may still commit", e.Leader)
	}
	return fmt.Sprintf("raft: not the leader (leader is %d)", e.Leader)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
