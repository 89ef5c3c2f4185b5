package commitlog

import (
	"errors"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestCoordinatorAppendVerificationGuard: a coordinator's transactional
// append (a TxnOffsetCommit's offsets) carries the guard taken before its
// KIP-890 verification; a marker of the producer between the two clears
// the guard and the append is refused, so the offsets cannot land after
// the transaction ended (internal/txn/DESIGN.md, "A local TxnOffsetCommit
// marks the transaction pending"). Kafka: VerificationGuard,
// UnifiedLog.batchMissingRequiredVerification.
func TestCoordinatorAppendVerificationGuard(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/__consumer_offsets-0", smallConfig(), clock.NewFake(time.UnixMilli(1000)))
	defer l.Close()
	start := func(pid int64) VerificationGuard {
		t.Helper()
		g, err := l.StartTxnVerification(pid)
		if err != nil || g == NoVerificationGuard {
			t.Fatalf("StartTxnVerification(%d) = %d, %v", pid, g, err)
		}
		return g
	}
	appendTxn := func(step string, pid int64, epoch int16, g VerificationGuard, wantErr error) {
		t.Helper()
		leo := l.LogEndOffset()
		_, err := l.AppendCoordinator(pbatch(pid, epoch, 0, 1, true), 0, g)
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("%s: append: %v", step, err)
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Fatalf("%s: append: %v, want %v", step, err, wantErr)
		case err != nil && l.LogEndOffset() != leo:
			t.Fatalf("%s: refused append moved the log end %d → %d", step, leo, l.LogEndOffset())
		}
	}
	marker := func(pid int64, epoch int16, commit bool) {
		t.Helper()
		if _, err := l.AppendMarker(MarkerAppend{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: 1}); err != nil {
			t.Fatalf("marker of %d: %v", pid, err)
		}
	}

	// Verified, then the producer ended its (empty) transaction: the
	// marker overtook the offsets, which must not open a transaction.
	g := start(7)
	marker(7, 0, true)
	appendTxn("after a marker", 7, 0, g, ErrInvalidTxnState)
	if lso := l.LastStableOffset(); lso != l.HighWatermark() {
		t.Fatalf("refused append left LSO %d, HW %d", lso, l.HighWatermark())
	}

	// A new verification gets a new guard; the old one stays refused.
	g2 := start(7)
	if g2 == g {
		t.Fatalf("guard %d reused after a marker", g)
	}
	appendTxn("stale guard after a new verification", 7, 0, g, ErrInvalidTxnState)
	// Concurrent verifications of one producer share the guard (Kafka's
	// maybeCreateVerificationStateEntry); the first append opens the
	// transaction, the second continues it.
	if g3 := start(7); g3 != g2 {
		t.Fatalf("second verification: guard %d, want the shared %d", g3, g2)
	}
	appendTxn("verified", 7, 0, g2, nil)
	appendTxn("concurrent, same transaction", 7, 0, g2, nil)

	// Verified while the transaction was open, appended after its marker.
	g4 := start(7)
	marker(7, 0, false)
	appendTxn("verified in an open transaction, appended after its marker", 7, 0, g4, ErrInvalidTxnState)

	// The epoch is checked first (KAFKA-19690): a fenced producer gets
	// ErrInvalidProducerEpoch whatever its guard.
	marker(7, 1, false)
	appendTxn("fenced", 7, 0, start(7), ErrInvalidProducerEpoch)

	// No guard asked for: no check (the local coordinator path).
	appendTxn("unchecked", 8, 0, NoVerificationGuard, nil)
	marker(8, 0, true)
}

// TestProduceVerificationWithoutLock: AppendProducer's KIP-890 verification
// (a call to a transaction coordinator, maybe remote) runs without the
// producer-state lock: another producer's batch, a marker and a
// read_committed fetch's aborted transactions go on meanwhile. A marker of
// the verified producer in between refuses the batch (its transaction
// ended after the verification); one of another producer does not.
func TestProduceVerificationWithoutLock(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", smallConfig(), clock.NewFake(time.UnixMilli(1000)))
	defer l.Close()
	during := func(pid int64, meanwhile func() error) error {
		t.Helper()
		var inner error
		_, err := l.AppendProducer(pbatch(pid, 0, 0, 1, true), 0, func(int64, int16) error {
			inner = meanwhile() // would deadlock if the lock were held
			return nil
		})
		if inner != nil {
			t.Fatalf("while producer %d was verified: %v", pid, inner)
		}
		return err
	}

	// Others' work goes on; the batch is appended.
	if err := during(1, func() error {
		if _, err := l.AppendProducer(pbatch(2, 0, 0, 1, false), 0, nil); err != nil {
			return err
		}
		if _, err := l.AppendMarker(MarkerAppend{ProducerID: 3, Commit: false}); err != nil {
			return err
		}
		_, err := l.AbortedTransactions(0, l.LogEndOffset())
		return err
	}); err != nil {
		t.Fatalf("verified batch after others' appends: %v", err)
	}
	if _, err := l.AppendMarker(MarkerAppend{ProducerID: 1, Commit: true}); err != nil {
		t.Fatal(err)
	}

	// The producer's own marker overtook the verification: refused, and
	// nothing appended or held.
	leo := l.LogEndOffset()
	err := during(4, func() error {
		_, err := l.AppendMarker(MarkerAppend{ProducerID: 4, Commit: false})
		return err
	})
	if !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("batch verified before its producer's marker: %v, want ErrInvalidTxnState", err)
	}
	if l.LogEndOffset() != leo+1 {
		t.Fatalf("log end %d, want %d (the marker only)", l.LogEndOffset(), leo+1)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != l.HighWatermark() {
		t.Fatalf("LSO %d after the refused batch, HW %d", lso, l.HighWatermark())
	}

	// A retry of an appended batch is answered as a duplicate, unverified.
	res, err := l.AppendProducer(pbatch(1, 0, 0, 1, true), 0, func(int64, int16) error {
		return errors.New("verified a duplicate")
	})
	if err != nil || !res.Duplicate {
		t.Fatalf("retry of a held batch: %+v, %v", res, err)
	}
}
