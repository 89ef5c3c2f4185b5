package commitlog

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

const attrTxn = 0x10

// pbatch is a batch of n records from producer pid at epoch, first sequence seq.
func pbatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{key: fmt.Appendf(nil, "k%d", i), value: []byte("v")}
	}
	o := batchOpts{baseTs: 1000, pid: pid, epoch: epoch, seq: seq}
	if txn {
		o.attrs = attrTxn
	}
	return makeBatchOpts(o, recs...)
}

func TestProducerSequenceStateMachine(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", smallConfig(), clock.NewFake(time.UnixMilli(1000)))
	defer l.Close()
	f := func(b []byte, wantErr error, wantDup bool, wantFirst int64) {
		t.Helper()
		h, _ := record.ParseHeader(b)
		leo := l.LogEndOffset()
		res, err := l.AppendProducer(b, 0, nil)
		if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
			t.Fatalf("append pid %d epoch %d seq %d: err %v, want %v", h.ProducerID, h.ProducerEpoch, h.BaseSequence, err, wantErr)
		}
		if err != nil {
			if l.LogEndOffset() != leo {
				t.Fatalf("rejected batch moved the log end from %d to %d", leo, l.LogEndOffset())
			}
			return
		}
		if res.Duplicate != wantDup || res.FirstOffset != wantFirst {
			t.Fatalf("append pid %d epoch %d seq %d: dup=%v first=%d, want dup=%v first=%d", h.ProducerID, h.ProducerEpoch, h.BaseSequence, res.Duplicate, res.FirstOffset, wantDup, wantFirst)
		}
	}
	f(pbatch(1, 0, 0, 3, false), nil, false, 0)                     // seq 0-2
	f(pbatch(1, 0, 3, 2, false), nil, false, 3)                     // seq 3-4
	f(pbatch(1, 0, 0, 3, false), nil, true, 0)                      // retry of the first: original offsets
	f(pbatch(1, 0, 3, 2, false), nil, true, 3)                      // retry of the second
	f(pbatch(1, 0, 7, 1, false), ErrOutOfOrderSequence, false, 0)   // gap
	f(pbatch(1, 0, 4, 1, false), ErrOutOfOrderSequence, false, 0)   // overlap, not a duplicate
	f(pbatch(1, 0, 5, 1, false), nil, false, 5)                     // the gap did not advance state (row 30)
	f(pbatch(1, 1, 3, 1, false), ErrOutOfOrderSequence, false, 0)   // new epoch must start at 0
	f(pbatch(1, 1, 0, 1, false), nil, false, 6)                     // epoch bump (KIP-360)
	f(pbatch(1, 0, 6, 1, false), ErrInvalidProducerEpoch, false, 0) // zombie of the old epoch
	f(pbatch(1, 0, 0, 3, false), ErrInvalidProducerEpoch, false, 0) // old-epoch retry is not a duplicate
	f(pbatch(2, 0, 42, 1, false), nil, false, 7)                    // unknown producer: any sequence (KIP-360)
	f(pbatch(2, 0, 43, 1, false), nil, false, 8)                    //
	f(pbatch(-1, -1, -1, 1, false), nil, false, 9)                  // no producer
	f(pbatch(3, 0, math.MaxInt32-1, 2, false), nil, false, 10)      // up to MaxInt32
	f(pbatch(3, 0, 0, 1, false), nil, false, 12)                    // wraps to 0
	f(pbatch(3, 0, math.MaxInt32-1, 2, false), nil, true, 10)       // still a duplicate
	for i := int32(1); i <= maxBatchesPerProducer+1; i++ {          // push the first batches out
		f(pbatch(4, 0, i-1, 1, false), nil, false, 12+int64(i))
	}
	f(pbatch(4, 0, 0, 1, false), ErrOutOfOrderSequence, false, 0) // older than the last five: not found
	f(pbatch(4, 0, 1, 1, false), nil, true, 14)                   // the oldest retained
}

func TestProducerTransactionState(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", smallConfig(), clock.NewFake(time.UnixMilli(1000)))
	defer l.Close()
	mustAppend := func(b []byte) ProducerAppendResult {
		t.Helper()
		res, err := l.AppendProducer(b, 0, nil)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		return res
	}
	mustAppend(pbatch(-1, -1, -1, 2, false)) // 0-1
	r := mustAppend(pbatch(7, 0, 0, 2, true))
	if r.FirstOffset != 2 || l.LastStableOffset() != 2 {
		t.Fatalf("open txn at %d: LSO %d, want 2", r.FirstOffset, l.LastStableOffset())
	}
	if _, err := l.AppendProducer(pbatch(7, 0, 2, 1, false), 0, nil); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch inside a transaction: %v, want ErrInvalidTxnState", err)
	}
	mustAppend(pbatch(8, 0, 0, 1, true)) // 4
	mustAppend(pbatch(7, 0, 2, 1, true)) // 5
	if _, err := l.AppendMarker(MarkerAppend{ProducerID: 7, ProducerEpoch: 0, Commit: false, CoordinatorEpoch: 1}); err != nil {
		t.Fatalf("abort marker: %v", err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 4 {
		t.Fatalf("LSO after aborting 7 = %d, want 4 (8's transaction)", got)
	}
	if _, err := l.AppendMarker(MarkerAppend{ProducerID: 8, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 1}); err != nil {
		t.Fatalf("commit marker: %v", err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if got, want := l.LastStableOffset(), l.LogEndOffset(); got != want {
		t.Fatalf("LSO with no open transaction = %d, want HW %d", got, want)
	}
	ab, _ := l.AbortedTransactions(0, 100)
	if len(ab) != 1 || ab[0].ProducerID != 7 || ab[0].FirstOffset != 2 || ab[0].LastOffset != 6 {
		t.Fatalf("aborted = %+v, want producer 7 [2, 6]", ab)
	}
	if ab, _ := l.AbortedTransactions(7, 100); len(ab) != 0 {
		t.Fatalf("aborted after the marker = %+v, want none", ab)
	}
	if _, err := l.AppendMarker(MarkerAppend{ProducerID: 7, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 0}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator epoch: %v", err)
	}
	// A fencing abort with a bumped epoch: the old epoch is fenced.
	if _, err := l.AppendMarker(MarkerAppend{ProducerID: 8, ProducerEpoch: 1, Commit: false, CoordinatorEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.AppendProducer(pbatch(8, 0, 1, 1, true), 0, nil); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("zombie after fencing marker: %v", err)
	}
	// KIP-890 verification rejects a transaction the coordinator does not know.
	errNo := errors.New("not in txn")
	if _, err := l.AppendProducer(pbatch(9, 0, 0, 1, true), 0, func(int64, int16) error { return errNo }); !errors.Is(err, errNo) {
		t.Fatalf("unverified transactional batch: %v", err)
	}
	if got, want := l.LastStableOffset(), l.LogEndOffset(); got != want {
		t.Fatalf("LSO after a rejected first batch = %d, want %d", got, want)
	}
}

func TestProducerStateRecovery(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			fs := vfs.NewMem()
			clk := clock.NewFake(time.UnixMilli(1000))
			l := openTest(t, fs, "/d/t-0", smallConfig(), clk)
			var seq int32
			// Enough batches to roll several segments (4 KiB each).
			for i := range 60 {
				if _, err := l.AppendProducer(pbatch(1, 0, seq, 4, false), 0, nil); err != nil {
					t.Fatal(err)
				}
				seq += 4
				if i == 30 {
					if _, err := l.AppendProducer(pbatch(2, 3, 0, 1, true), 0, nil); err != nil {
						t.Fatal(err)
					}
					if _, err := l.AppendMarker(MarkerAppend{ProducerID: 2, ProducerEpoch: 3, CoordinatorEpoch: 1}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := l.AppendProducer(pbatch(5, 0, 0, 1, true), 0, nil); err != nil { // left open
				t.Fatal(err)
			}
			open := l.LogEndOffset() - 1
			if err := l.WaitDurable(t.Context(), l.LogEndOffset()-1); err != nil {
				t.Fatal(err)
			}
			if clean {
				l.Close()
			}
			fs2 := fs.CrashClone()
			l2 := openTest(t, fs2, "/d/t-0", smallConfig(), clk)
			defer l2.Close()
			if err := l2.LoadProducerState(); err != nil {
				t.Fatal(err)
			}
			l2.SetHighWatermark(l2.LogEndOffset())
			if got := l2.LastStableOffset(); got != open {
				t.Errorf("LSO after recovery = %d, want %d (open transaction)", got, open)
			}
			// Retries of the last five batches are still duplicates.
			for k := int32(1); k <= maxBatchesPerProducer; k++ {
				res, err := l2.AppendProducer(pbatch(1, 0, seq-4*k, 4, false), 0, nil)
				if err != nil || !res.Duplicate {
					t.Fatalf("retry of seq %d after recovery: dup=%v err=%v", seq-4*k, res.Duplicate, err)
				}
			}
			if _, err := l2.AppendProducer(pbatch(1, 0, seq+1, 1, false), 0, nil); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after recovery: %v", err)
			}
			ab, _ := l2.AbortedTransactions(0, math.MaxInt64)
			if len(ab) != 1 || ab[0].ProducerID != 2 {
				t.Fatalf("aborted after recovery = %+v, want producer 2", ab)
			}
			ps, _ := l2.Producers()
			if len(ps) != 3 {
				t.Fatalf("producers after recovery = %+v, want 3", ps)
			}
		})
	}
}

func TestProducerSnapshotCorruptIsRebuilt(t *testing.T) {
	fs := vfs.NewMem()
	clk := clock.NewFake(time.UnixMilli(1000))
	l := openTest(t, fs, "/d/t-0", smallConfig(), clk)
	for i := range 40 {
		if _, err := l.AppendProducer(pbatch(1, 0, int32(i), 1, false), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	names, _ := fs.List("/d/t-0")
	n := 0
	for _, name := range names {
		if _, ok := parseOffsetFile(name, snapshotSuffix); ok {
			f, err := fs.OpenAppend("/d/t-0/" + name)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{1, 2, 3})
			f.Close()
			n++
		}
	}
	if n == 0 {
		t.Fatal("no snapshot written")
	}
	l2 := openTest(t, fs, "/d/t-0", smallConfig(), clk)
	defer l2.Close()
	if res, err := l2.AppendProducer(pbatch(1, 0, 39, 1, false), 0, nil); err != nil || !res.Duplicate {
		t.Fatalf("retry after corrupt snapshots: dup=%v err=%v", res.Duplicate, err)
	}
}

func TestProducerExpiry(t *testing.T) {
	clk := clock.NewFake(time.UnixMilli(1000))
	l := openTest(t, vfs.NewMem(), "/d/t-0", smallConfig(), clk)
	defer l.Close()
	l.SetProducerIDExpiration(time.Hour)
	if _, err := l.AppendProducer(pbatch(1, 0, 0, 1, false), 0, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	// Expired: unknown again, any sequence is accepted.
	if res, err := l.AppendProducer(pbatch(1, 0, 10, 1, false), 0, nil); err != nil || res.Duplicate {
		t.Fatalf("after expiry: %+v %v", res, err)
	}
}
