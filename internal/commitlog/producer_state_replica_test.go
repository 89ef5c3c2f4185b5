package commitlog

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/vfs"
)

// replicate copies what leader holds beyond follower's log end to follower
// with AppendReplicated, as a follower's fetcher does, and moves both high
// watermarks to the end.
func replicate(t *testing.T, leader, follower *Log) {
	t.Helper()
	for follower.LogEndOffset() < leader.LogEndOffset() {
		s, err := leader.Read(follower.LogEndOffset(), 1500, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("leader Read(%d): %v", follower.LogEndOffset(), err)
		}
		b, err := s.ReadAll(nil)
		s.Release()
		if err != nil || len(b) == 0 {
			t.Fatalf("leader read at %d: %d bytes, %v", follower.LogEndOffset(), len(b), err)
		}
		if _, err := follower.AppendReplicated(b); err != nil {
			t.Fatalf("AppendReplicated at %d: %v", follower.LogEndOffset(), err)
		}
	}
	leader.SetHighWatermark(leader.LogEndOffset())
	follower.SetHighWatermark(follower.LogEndOffset())
}

// sameProducerState fails unless a and b report the same producers,
// aborted transactions and last stable offset.
func sameProducerState(t *testing.T, what string, want, got *Log) {
	t.Helper()
	wp, err := want.Producers()
	if err != nil {
		t.Fatal(err)
	}
	gp, err := got.Producers()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wp, gp) {
		t.Errorf("%s: producers\n got  %+v\n want %+v", what, gp, wp)
	}
	// AbortedTxn.LastStableOffset is informational (no API returns it) and
	// the leader takes it from its high watermark: not compared.
	wa, _ := want.AbortedTransactions(0, math.MaxInt64)
	ga, _ := got.AbortedTransactions(0, math.MaxInt64)
	for i := range wa {
		wa[i].LastStableOffset = 0
	}
	for i := range ga {
		ga[i].LastStableOffset = 0
	}
	if !reflect.DeepEqual(wa, ga) {
		t.Errorf("%s: aborted transactions\n got  %+v\n want %+v", what, ga, wa)
	}
	if w, g := want.LastStableOffset(), got.LastStableOffset(); w != g {
		t.Errorf("%s: last stable offset %d, want %d", what, g, w)
	}
}

type producerLogs struct {
	t   *testing.T
	clk *clock.Fake
}

// open opens a log and loads its producer state, as the broker does for
// every log at start (a lazy load would replay what AppendReplicated
// missed and hide the bug).
func (p producerLogs) open(fs vfs.FS, dir string) *Log {
	l := openTest(p.t, fs, dir, smallConfig(), p.clk)
	p.t.Cleanup(func() { l.Close() })
	if err := l.LoadProducerState(); err != nil {
		p.t.Fatal(err)
	}
	return l
}

func mustProduce(t *testing.T, l *Log, b []byte, epoch int32) AppendResult {
	t.Helper()
	res, err := l.AppendProducer(b, epoch, nil)
	if err != nil || res.Duplicate {
		t.Fatalf("AppendProducer at %d: dup=%v err=%v", l.LogEndOffset(), res.Duplicate, err)
	}
	return res.AppendResult
}

func mustMarker(t *testing.T, l *Log, m MarkerAppend) {
	t.Helper()
	if _, err := l.AppendMarker(m); err != nil {
		t.Fatalf("AppendMarker %+v: %v", m, err)
	}
}

// TestFollowerTakesOverProducerState is the chaos test's G-CON "duplicate"
// (F1): a follower elected leader must recognise a producer's retry of a
// batch the old leader appended, and hold the same transactions.
func TestFollowerTakesOverProducerState(t *testing.T) {
	pl := producerLogs{t, clock.NewFake(time.UnixMilli(1000))}
	fs := vfs.NewMem()
	leader, follower := pl.open(fs, "/l/t-0"), pl.open(fs, "/f/t-0")

	var firsts []int64  // of producer 1's batches, by sequence/4
	for i := range 80 { // several 4 KiB segments
		firsts = append(firsts, mustProduce(t, leader, pbatch(1, 0, int32(4*i), 4, false), 0).FirstOffset)
		switch i {
		case 10: // producer 2: aborted transaction
			mustProduce(t, leader, pbatch(2, 0, 0, 2, true), 0)
		case 20:
			mustMarker(t, leader, MarkerAppend{ProducerID: 2, ProducerEpoch: 0, CoordinatorEpoch: 3})
		case 30: // producer 3: committed transaction
			mustProduce(t, leader, pbatch(3, 0, 0, 2, true), 0)
		case 40:
			mustMarker(t, leader, MarkerAppend{ProducerID: 3, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 3})
		case 50: // producer 5 bumps its epoch (KIP-360)
			mustProduce(t, leader, pbatch(5, 0, 0, 1, false), 0)
			mustProduce(t, leader, pbatch(5, 1, 0, 1, false), 0)
		case 60: // producer 2 fenced by the coordinator with an epoch bump
			mustMarker(t, leader, MarkerAppend{ProducerID: 2, ProducerEpoch: 1, CoordinatorEpoch: 4})
		case 70: // producer 4: transaction left open
			mustProduce(t, leader, pbatch(4, 0, 0, 3, true), 0)
		}
		if _, err := leader.Append(pbatch(-1, -1, -1, 1, false), 0); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			replicate(t, leader, follower)
		}
	}
	replicate(t, leader, follower)
	openTxn := leader.LastStableOffset()
	if openTxn == leader.LogEndOffset() {
		t.Fatal("no open transaction on the leader")
	}
	sameProducerState(t, "follower", leader, follower)

	// The follower becomes leader (epoch 1).
	nl := follower
	for k := 1; k <= maxBatchesPerProducer; k++ {
		i := len(firsts) - k
		res, err := nl.AppendProducer(pbatch(1, 0, int32(4*i), 4, false), 1, nil)
		if err != nil || !res.Duplicate || res.FirstOffset != firsts[i] || res.LastOffset != firsts[i]+3 {
			t.Fatalf("retry of seq %d on the new leader: %+v err=%v, want duplicate at [%d, %d]", 4*i, res, err, firsts[i], firsts[i]+3)
		}
	}
	leo := nl.LogEndOffset()
	if _, err := nl.AppendProducer(pbatch(1, 0, int32(4*len(firsts))+1, 1, false), 1, nil); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap on the new leader: %v, want ErrOutOfOrderSequence", err)
	}
	if res := mustProduce(t, nl, pbatch(1, 0, int32(4*len(firsts)), 1, false), 1); res.FirstOffset != leo {
		t.Fatalf("next sequence appended at %d, want %d", res.FirstOffset, leo)
	}
	if _, err := nl.AppendProducer(pbatch(5, 0, 1, 1, false), 1, nil); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("producer 5 at its old epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	if _, err := nl.AppendProducer(pbatch(2, 0, 2, 1, true), 1, nil); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("producer 2 after its fencing marker: %v, want ErrInvalidProducerEpoch", err)
	}
	if _, err := nl.AppendProducer(pbatch(4, 0, 3, 1, false), 1, nil); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch in producer 4's open transaction: %v, want ErrInvalidTxnState", err)
	}
	if _, err := nl.AppendMarker(MarkerAppend{ProducerID: 2, ProducerEpoch: 1, CoordinatorEpoch: 3}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator epoch: %v, want ErrCoordinatorFenced", err)
	}
	nl.SetHighWatermark(nl.LogEndOffset())
	if got := nl.LastStableOffset(); got != openTxn {
		t.Fatalf("new leader's LSO %d, want %d (producer 4's transaction)", got, openTxn)
	}
	mustMarker(t, nl, MarkerAppend{ProducerID: 4, ProducerEpoch: 0, CoordinatorEpoch: 4})
	nl.SetHighWatermark(nl.LogEndOffset())
	if got, want := nl.LastStableOffset(), nl.LogEndOffset(); got != want {
		t.Fatalf("LSO after aborting producer 4 = %d, want the high watermark %d", got, want)
	}
	ab, _ := nl.AbortedTransactions(0, math.MaxInt64)
	if len(ab) != 2 || ab[0].ProducerID != 2 || ab[1].ProducerID != 4 || ab[1].FirstOffset != openTxn {
		t.Fatalf("aborted transactions on the new leader = %+v, want producers 2 and 4 (from %d)", ab, openTxn)
	}

	// The old leader follows the new one: the same state again.
	replicate(t, nl, leader)
	sameProducerState(t, "old leader following", nl, leader)
}

// TestFollowerTruncationRebuildsProducerState: a follower holding a
// divergent tail (batches, an abort, an open transaction) truncates it and
// replicates a different tail; its state must match the new leader's, also
// after a crash.
func TestFollowerTruncationRebuildsProducerState(t *testing.T) {
	pl := producerLogs{t, clock.NewFake(time.UnixMilli(1000))}
	fs := vfs.NewMem()
	old, follower, nl := pl.open(fs, "/old/t-0"), pl.open(fs, "/f/t-0"), pl.open(fs, "/new/t-0")

	// The common prefix, on all three.
	for i := range 30 {
		mustProduce(t, old, pbatch(1, 0, int32(2*i), 2, false), 0)
		if i == 5 {
			mustProduce(t, old, pbatch(2, 0, 0, 1, true), 0)
			mustMarker(t, old, MarkerAppend{ProducerID: 2, ProducerEpoch: 0, CoordinatorEpoch: 1})
		}
	}
	replicate(t, old, follower)
	replicate(t, old, nl)
	common := old.LogEndOffset()

	// A tail only the old leader and the follower got: several segments,
	// an aborted transaction, one left open, producer 1 further on.
	for i := range 60 {
		mustProduce(t, old, pbatch(1, 0, int32(60+2*i), 2, false), 0)
		switch i {
		case 3:
			mustProduce(t, old, pbatch(7, 0, 0, 2, true), 0)
		case 30:
			mustMarker(t, old, MarkerAppend{ProducerID: 7, ProducerEpoch: 0, CoordinatorEpoch: 1})
		case 40:
			mustProduce(t, old, pbatch(8, 0, 0, 1, true), 0)
		}
	}
	replicate(t, old, follower)
	if follower.LastStableOffset() == follower.LogEndOffset() {
		t.Fatal("follower sees no open transaction before truncation")
	}
	producerFiles := func() (snaps []int64, aborted []AbortedTxn) {
		names, _ := fs.List("/f/t-0")
		for _, n := range names {
			if off, ok := parseOffsetFile(n, snapshotSuffix); ok {
				snaps = append(snaps, off)
			}
			if _, ok := parseOffsetFile(n, txnIndexSuffix); ok {
				b, err := readWholeFile(fs, "/f/t-0/"+n)
				if err != nil {
					t.Fatal(err)
				}
				aborted = append(aborted, decodeTxnIndex(b)...)
			}
		}
		return snaps, aborted
	}
	if snaps, aborted := producerFiles(); slices.Max(snaps) <= common || len(aborted) != 2 {
		t.Fatalf("before truncation: snapshots %v, aborted index %+v; want one above %d and two entries", snaps, aborted, common)
	}

	// The new leader's own tail: producer 1 resends from where the common
	// prefix ended with other batch sizes, producer 9 aborts.
	for i := range 20 {
		mustProduce(t, nl, pbatch(1, 0, int32(60+3*i), 3, false), 1)
		if i == 2 {
			mustProduce(t, nl, pbatch(9, 0, 0, 1, true), 1)
		}
		if i == 15 {
			mustMarker(t, nl, MarkerAppend{ProducerID: 9, ProducerEpoch: 0, CoordinatorEpoch: 2})
		}
	}

	if err := follower.Truncate(common); err != nil {
		t.Fatal(err)
	}
	if follower.LogEndOffset() != common {
		t.Fatalf("log end after truncation %d, want %d", follower.LogEndOffset(), common)
	}
	follower.SetHighWatermark(common)
	if snaps, aborted := producerFiles(); slices.Max(snaps) > common || len(aborted) != 1 || aborted[0].ProducerID != 2 {
		t.Fatalf("after truncation: snapshots %v, aborted index %+v; want none above %d and only producer 2", snaps, aborted, common)
	}
	sameProducerState(t, "after truncation", prefixCopy(t, pl, old, common), follower)
	ps, _ := follower.Producers()
	for _, p := range ps {
		if p.ProducerID == 7 || p.ProducerID == 8 {
			t.Fatalf("producer %d of the truncated tail still known: %+v", p.ProducerID, p)
		}
	}

	replicate(t, nl, follower)
	sameProducerState(t, "after re-replication", nl, follower)
	if res, err := follower.AppendProducer(pbatch(1, 0, 60+3*19, 3, false), 2, nil); err != nil || !res.Duplicate {
		t.Fatalf("retry of the new leader's last batch on the follower: dup=%v err=%v", res.Duplicate, err)
	}
	if _, err := follower.AppendProducer(pbatch(1, 0, 60+2*59, 2, false), 2, nil); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("producer 1's truncated sequence on the follower: %v, want ErrOutOfOrderSequence", err)
	}

	// A crash: the recovered follower has the same state.
	if err := follower.WaitDurable(t.Context(), follower.LogEndOffset()-1); err != nil {
		t.Fatal(err)
	}
	crashed := pl.open(fs.CrashClone(), "/f/t-0")
	crashed.SetHighWatermark(crashed.LogEndOffset())
	sameProducerState(t, "after crash", follower, crashed)

	// Restarting at a leader's log start forgets every producer.
	if err := follower.TruncateFullyAndStartAt(10_000); err != nil {
		t.Fatal(err)
	}
	if ps, _ := follower.Producers(); len(ps) != 0 {
		t.Fatalf("producers after TruncateFullyAndStartAt = %+v, want none", ps)
	}
	if ab, _ := follower.AbortedTransactions(0, math.MaxInt64); len(ab) != 0 {
		t.Fatalf("aborted after TruncateFullyAndStartAt = %+v, want none", ab)
	}
	names, _ := fs.List("/f/t-0")
	for _, n := range names {
		if off, ok := parseOffsetFile(n, snapshotSuffix); ok && off != 10_000 {
			t.Errorf("snapshot %s left after TruncateFullyAndStartAt", n)
		}
		if _, ok := parseOffsetFile(n, txnIndexSuffix); ok {
			t.Errorf("transaction index %s left after TruncateFullyAndStartAt", n)
		}
	}
}

// prefixCopy returns a fresh log holding l's offsets below end, copied by
// AppendReplicated: the state a follower truncated to end must have.
func prefixCopy(t *testing.T, pl producerLogs, l *Log, end int64) *Log {
	t.Helper()
	p := pl.open(vfs.NewMem(), "/prefix/t-0")
	for p.LogEndOffset() < end {
		s, err := l.Read(p.LogEndOffset(), 1500, end, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.ReadAll(nil)
		s.Release()
		if err != nil || len(b) == 0 {
			t.Fatalf("read prefix at %d: %d bytes, %v", p.LogEndOffset(), len(b), err)
		}
		if _, err := p.AppendReplicated(b); err != nil {
			t.Fatal(err)
		}
	}
	p.SetHighWatermark(end)
	return p
}
