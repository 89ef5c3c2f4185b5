package commitlog

import (
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestLastStableOffsetHeldUntilMarkerReplicated: a transaction's marker
// moves the last stable offset only once the high watermark passes it
// (Kafka's unreplicated transactions), on a leader, on a follower and
// after a reload. Found by the simulation (internal/sim, txn.go; seed 117
// at the commit that added it): a stale leader that never got producer
// 2001's abort of one transaction appended the commit marker of the next,
// which closed the aborted transaction as committed; its last stable
// offset jumped to its high watermark, and read_committed fetches below it
// returned the aborted records. With an abort marker instead, the same
// jump hides a committed transaction's records (the aborted index then
// starts at its first offset): the F19 lost record (docs/reliability.md).
func TestLastStableOffsetHeldUntilMarkerReplicated(t *testing.T) {
	pl := producerLogs{t, clock.NewFake(time.UnixMilli(1000))}
	fs := vfs.NewMem()
	leader, follower := pl.open(fs, "/l/t-0"), pl.open(fs, "/f/t-0")
	check := func(what string, l *Log, want int64) {
		t.Helper()
		if got := l.LastStableOffset(); got != want {
			t.Errorf("%s: last stable offset %d, want %d (high watermark %d, log end %d)", what, got, want, l.HighWatermark(), l.LogEndOffset())
		}
	}

	mustProduce(t, leader, pbatch(7, 0, 0, 2, true), 0) // 0..1: a transaction the stale leader holds open
	if _, err := leader.Append(pbatch(-1, -1, -1, 3, false), 0); err != nil {
		t.Fatal(err) // 2..4
	}
	replicate(t, leader, follower) // high watermarks 5
	check("leader, open transaction", leader, 0)
	check("follower, open transaction", follower, 0)

	// The next transaction's abort marker: not replicated yet.
	mustMarker(t, leader, MarkerAppend{ProducerID: 7, ProducerEpoch: 0, CoordinatorEpoch: 1}) // 5
	check("leader, marker above the high watermark", leader, 0)
	if ab, err := leader.AbortedTransactions(0, leader.LastStableOffset()); err != nil || len(ab) != 0 {
		t.Errorf("a read_committed fetch below the last stable offset gets aborted transactions %+v, %v; want none", ab, err)
	}

	// A follower that appended it holds it too, until its high watermark
	// passes it.
	s, err := leader.Read(5, 1<<20, leader.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.ReadAll(nil)
	s.Release()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendReplicated(b); err != nil {
		t.Fatal(err)
	}
	check("follower, marker above the high watermark", follower, 0)

	// A reload (a truncation, a restart) holds it again.
	if err := follower.Truncate(6); err != nil { // nothing to cut: the state stays
		t.Fatal(err)
	}
	follower.ps.mu.Lock()
	err = follower.resetProducerStateLocked(func(int64) bool { return true })
	follower.ps.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	check("follower after a reload, marker above the high watermark", follower, 0)

	leader.SetHighWatermark(5)
	check("leader, high watermark at the marker", leader, 0)
	leader.SetHighWatermark(6)
	follower.SetHighWatermark(6)
	check("leader, marker replicated", leader, 6)
	check("follower, marker replicated", follower, 6)
}
