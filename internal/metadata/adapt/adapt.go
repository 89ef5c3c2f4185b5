// Package adapt holds the conversions between the metadata store and the
// packages it must not import (ADR 0005, arch_test.go): the raft driver's
// status as a metadata.QuorumStatus, and the store's AlterPartition refusals
// in the replica package's terms. internal/server and internal/sim both use
// them, so the simulation runs the broker's own translation, not a copy.
package adapt

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/raft"
	"github.com/kavka-io/kavka/internal/replica"
)

// QuorumStatus converts a raft member's status to the metadata store's view
// of the quorum: raft ids become broker ids, a leader of 0 (unknown) becomes
// -1, and the leader's progress is sorted by member id.
func QuorumStatus(st raft.Status) metadata.QuorumStatus {
	out := metadata.QuorumStatus{NodeID: int32(st.ID), Leader: -1, Term: st.Term, IsLeader: st.Leader == st.ID && st.Role == "leader",
		Commit: st.Commit, Applied: st.Applied}
	if st.Leader != 0 {
		out.Leader = int32(st.Leader)
	}
	for _, v := range st.Voters {
		out.Voters = append(out.Voters, int32(v))
	}
	for _, v := range st.Learners {
		out.Learners = append(out.Learners, int32(v))
	}
	for id, p := range st.Progress {
		out.Progress = append(out.Progress, metadata.ReplicaProgress{ID: int32(id), LogEnd: int64(p.Match), Learner: p.Learner, RecentActive: p.RecentActive})
	}
	slices.SortFunc(out.Progress, func(a, b metadata.ReplicaProgress) int { return int(a.ID) - int(b.ID) })
	return out
}

// AlterError translates the metadata store's AlterPartition refusal into the
// replica package's terms: stale epochs mean a newer state is on its way; an
// ineligible replica or an unknown partition means the proposal was not
// applied. Anything else leaves the outcome unknown.
func AlterError(err error) error {
	switch {
	case errors.Is(err, metadata.ErrStalePartitionState):
		return fmt.Errorf("%w: %w", replica.ErrStaleState, err)
	case errors.Is(err, metadata.ErrIneligibleReplica), errors.Is(err, metadata.ErrUnknownTopic):
		return fmt.Errorf("%w: %w", replica.ErrProposalRejected, err)
	}
	return err
}
