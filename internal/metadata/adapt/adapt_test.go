package adapt

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/raft"
	"github.com/kavka-io/kavka/internal/replica"
)

func TestQuorumStatus(t *testing.T) {
	f := func(st raft.Status, want metadata.QuorumStatus) {
		t.Helper()
		if diff := cmp.Diff(want, QuorumStatus(st)); diff != "" {
			t.Errorf("QuorumStatus(%+v) (-want +got):\n%s", st, diff)
		}
	}
	f(raft.Status{ID: 2, Term: 3, Role: "follower", Commit: 7, Applied: 6, Voters: []uint64{1, 2, 3}},
		metadata.QuorumStatus{NodeID: 2, Leader: -1, Term: 3, Commit: 7, Applied: 6, Voters: []int32{1, 2, 3}})
	f(raft.Status{ID: 1, Leader: 1, Term: 4, Role: "leader", Commit: 9, Applied: 9, Voters: []uint64{1, 2}, Learners: []uint64{5},
		Progress: map[uint64]raft.Progress{5: {Match: 8, Learner: true}, 2: {Match: 9, RecentActive: true}, 1: {Match: 9, RecentActive: true}}},
		metadata.QuorumStatus{NodeID: 1, Leader: 1, Term: 4, IsLeader: true, Commit: 9, Applied: 9, Voters: []int32{1, 2}, Learners: []int32{5},
			Progress: []metadata.ReplicaProgress{{ID: 1, LogEnd: 9, RecentActive: true}, {ID: 2, LogEnd: 9, RecentActive: true}, {ID: 5, LogEnd: 8, Learner: true}}})
	// A follower that knows the leader is not the leader.
	f(raft.Status{ID: 2, Leader: 1, Term: 4, Role: "follower"}, metadata.QuorumStatus{NodeID: 2, Leader: 1, Term: 4})
}

func TestAlterError(t *testing.T) {
	f := func(err, want error) {
		t.Helper()
		got := AlterError(err)
		if !errors.Is(got, err) || (want != nil && !errors.Is(got, want)) {
			t.Errorf("AlterError(%v) = %v, want it to wrap %v and %v", err, got, err, want)
		}
		for _, other := range []error{replica.ErrStaleState, replica.ErrProposalRejected} {
			if other != want && errors.Is(got, other) {
				t.Errorf("AlterError(%v) = %v, wraps %v", err, got, other)
			}
		}
	}
	f(fmt.Errorf("epoch 3: %w", metadata.ErrStalePartitionState), replica.ErrStaleState)
	f(metadata.ErrIneligibleReplica, replica.ErrProposalRejected)
	f(metadata.ErrUnknownTopic, replica.ErrProposalRejected)
	f(io.ErrUnexpectedEOF, nil) // outcome unknown: returned as is
	if err := AlterError(nil); err != nil {
		t.Errorf("AlterError(nil) = %v, want nil", err)
	}
}
