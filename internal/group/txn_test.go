package group

import (
	"errors"
	"testing"
)

// TestTxnOffsetsPendingUntilMarker writes transactional offset commits of
// two producers, checks that they stay invisible (and unstable) until their
// marker, and that a restart at every step (replay from the log) gives the
// same offsets as the live coordinator.
func TestTxnOffsetsPendingUntilMarker(t *testing.T) {
	h := newHarness(t)
	tp0, tp1 := TopicPartition{Topic: "in", Partition: 0}, TopicPartition{Topic: "in", Partition: 1}
	log := func() interface {
		AppendMarker(int64, int16, bool) int64
	} {
		h.storage.mu.Lock()
		defer h.storage.mu.Unlock()
		return h.storage.logs[h.c.PartitionFor("g")]
	}
	commitTxn := func(pid int64, offs map[TopicPartition]int64) {
		t.Helper()
		m := map[TopicPartition]Offset{}
		for tp, o := range offs {
			m[tp] = Offset{Offset: o, LeaderEpoch: -1}
		}
		err := h.c.TxnCommitOffsets(ctx, TxnCommitRequest{Group: "g", Generation: -1, ProducerID: pid, ProducerEpoch: 0, Offsets: m})
		if err != nil {
			t.Fatalf("TxnCommitOffsets(pid %d): %v", pid, err)
		}
	}
	marker := func(pid int64, commit bool) {
		t.Helper()
		log().AppendMarker(pid, 0, commit)
		h.c.CompleteTxn(h.c.PartitionFor("g"), pid, commit)
	}
	// check compares the visible offsets and the unstable partitions, live
	// and after a restart.
	check := func(step string, want map[TopicPartition]int64, wantUnstable ...TopicPartition) {
		t.Helper()
		for _, restart := range []bool{false, true} {
			if restart {
				h.restart()
			}
			got, unstable, err := h.c.FetchStableOffsets(ctx, "g", map[string][]int32{"in": {0, 1}})
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if len(got) != len(want) {
				t.Errorf("%s (restart=%v): offsets %v, want %v", step, restart, got, want)
			}
			for tp, o := range want {
				if got[tp].Offset != o {
					t.Errorf("%s (restart=%v): %v at %d, want %d", step, restart, tp, got[tp].Offset, o)
				}
			}
			if len(unstable) != len(wantUnstable) {
				t.Errorf("%s (restart=%v): unstable %v, want %v", step, restart, unstable, wantUnstable)
			}
			for _, tp := range wantUnstable {
				if !unstable[tp] {
					t.Errorf("%s (restart=%v): %v not unstable", step, restart, tp)
				}
			}
		}
	}

	commitTxn(1, map[TopicPartition]int64{tp0: 10, tp1: 20})
	check("pending", nil, tp0, tp1)
	marker(1, true)
	check("committed", map[TopicPartition]int64{tp0: 10, tp1: 20})

	commitTxn(2, map[TopicPartition]int64{tp0: 30})
	check("second pending", map[TopicPartition]int64{tp0: 10, tp1: 20}, tp0)
	marker(2, false)
	check("aborted", map[TopicPartition]int64{tp0: 10, tp1: 20})

	// A plain commit after a pending transactional one wins over it, even
	// though the transaction commits later (Kafka compares log positions).
	commitTxn(3, map[TopicPartition]int64{tp0: 40, tp1: 41})
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, Offsets: map[TopicPartition]Offset{tp0: {Offset: 50, LeaderEpoch: -1}}}); err != nil {
		t.Fatal(err)
	}
	check("plain commit over pending", map[TopicPartition]int64{tp0: 50, tp1: 20}, tp1)
	marker(3, true)
	check("transaction after plain commit", map[TopicPartition]int64{tp0: 50, tp1: 41})

	// A marker replayed before the live completion arrives (the shard was
	// not loaded) is applied by the load.
	commitTxn(4, map[TopicPartition]int64{tp1: 60})
	h.restart()
	log().AppendMarker(4, 0, true)
	check("marker seen by replay only", map[TopicPartition]int64{tp0: 50, tp1: 60})
	h.c.CompleteTxn(h.c.PartitionFor("g"), 4, true) // late, a no-op
	check("late completion", map[TopicPartition]int64{tp0: 50, tp1: 60})
}

func TestTxnOffsetCommitChecksMember(t *testing.T) {
	h := newHarness(t)
	m1, gen := h.joinStable("g", "a", []byte("x"))
	offs := map[TopicPartition]Offset{{Topic: "in", Partition: 0}: {Offset: 1, LeaderEpoch: -1}}
	f := func(member string, generation int32, want error) {
		t.Helper()
		err := h.c.TxnCommitOffsets(ctx, TxnCommitRequest{Group: "g", MemberID: member, Generation: generation, ProducerID: 7, Offsets: offs})
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("TxnCommitOffsets(%q, %d) = %v, want %v", member, generation, err, want)
		}
	}
	f(m1, gen, nil)
	f(m1, gen+1, ErrIllegalGeneration)
	f("nobody", gen, ErrUnknownMember)
	f("", -1, nil)
	if err := h.c.TxnCommitOffsets(ctx, TxnCommitRequest{Group: "none", MemberID: "m", Generation: 1, ProducerID: 7, Offsets: offs}); !errors.Is(err, ErrIllegalGeneration) {
		t.Errorf("unknown group with a generation: %v", err)
	}
}
