package metadata

import (
	"errors"
	"slices"
	"testing"
)

func TestReassign(t *testing.T) {
	im := &Image{Brokers: []Broker{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}, {NodeID: 4}}}
	p := Partition{Index: 0, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 5, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}
	eq := func(what string, got, want []int32) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	// Move 1 → 4: the target first, then the removing replica; the leader
	// stays until the end.
	np, err := reassign(im, p, []int32{2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	eq("replicas", np.Replicas, []int32{2, 3, 4, 1})
	eq("adding", np.AddingReplicas, []int32{4})
	eq("removing", np.RemovingReplicas, []int32{1})
	if np.Leader != 1 || np.LeaderEpoch != 3 || np.PartitionEpoch != 6 {
		t.Errorf("leader %d epochs %d/%d, want 1 3/6", np.Leader, np.LeaderEpoch, np.PartitionEpoch)
	}
	if c := completeReassignment(im, np); c.PartitionEpoch != np.PartitionEpoch {
		t.Errorf("completed before the adding replica is in sync: %+v", c)
	}
	// Broker 4 caught up: done, and broker 2 leads in a new epoch.
	np.ISR = []int32{1, 2, 3, 4}
	done := completeReassignment(im, np)
	eq("replicas after", done.Replicas, []int32{2, 3, 4})
	eq("isr after", done.ISR, []int32{2, 3, 4})
	if done.Leader != 2 || done.LeaderEpoch != 4 || done.AddingReplicas != nil || done.RemovingReplicas != nil {
		t.Errorf("completed = %+v, want leader 2 in epoch 4, no reassignment", done)
	}

	// Cancel: back to 1, 2, 3 (in the merged order, as Kafka's
	// PartitionReassignmentRevert); 4 leaves the ISR.
	back, err := reassign(im, np, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq("replicas after cancel", back.Replicas, []int32{2, 3, 1})
	eq("isr after cancel", back.ISR, []int32{1, 2, 3})
	if back.AddingReplicas != nil || back.RemovingReplicas != nil || back.Leader != 1 {
		t.Errorf("cancelled = %+v", back)
	}
	// A new target replaces the one in progress.
	re, err := reassign(im, np, []int32{1, 2, 4})
	if err != nil {
		t.Fatal(err)
	}
	eq("replaced replicas", re.Replicas, []int32{1, 2, 4, 3})
	eq("replaced adding", re.AddingReplicas, []int32{4})
	eq("replaced removing", re.RemovingReplicas, []int32{3})

	if _, err := reassign(im, p, nil); !errors.Is(err, ErrNoReassignment) {
		t.Errorf("cancel without a reassignment: %v, want ErrNoReassignment", err)
	}
	for _, bad := range [][]int32{{}, {1, 1}, {1, 9}} {
		if _, err := reassign(im, p, bad); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("target %v: %v, want ErrInvalidReplicaAssignment", bad, err)
		}
	}
	// The leader is an adding replica when cancelled: a new leader.
	lead4 := np
	lead4.Leader = 4
	c, err := reassign(im, lead4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leader != 2 || c.LeaderEpoch != lead4.LeaderEpoch+1 {
		t.Errorf("cancel with leader 4: leader %d epoch %d, want 2 in %d", c.Leader, c.LeaderEpoch, lead4.LeaderEpoch+1)
	}
}
