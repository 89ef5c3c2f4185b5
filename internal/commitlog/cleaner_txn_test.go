package commitlog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// readCommitted reads the log as a read_committed consumer does (Kafka's
// Fetcher with AbortedTransactions): up to the last stable offset, skipping
// transactional batches of a producer from the first offset of an aborted
// transaction until its abort marker, and every control batch. It returns
// offset → record.
func readCommitted(t *testing.T, l *Log) map[int64]kv {
	t.Helper()
	lso := l.LastStableOffset()
	if lso < 0 {
		lso = l.HighWatermark()
	}
	ab, err := l.AbortedTransactions(l.LogStartOffset(), lso)
	if err != nil {
		t.Fatal(err)
	}
	aborting := map[int64]bool{}
	out := map[int64]kv{}
	eachBatch(t, l, lso, func(batch []byte, h record.Header) {
		for len(ab) > 0 && ab[0].FirstOffset <= h.LastOffset() {
			aborting[ab[0].ProducerID] = true
			ab = ab[1:]
		}
		if h.Control() {
			if recs, err := record.DecodeRecords(batch, 1<<20); err == nil && len(recs) > 0 {
				if typ, err := record.ParseControlRecord(recs[0].Key); err == nil && typ == record.ControlAbort {
					delete(aborting, h.ProducerID)
				}
			}
			return
		}
		if !h.Transactional() || !aborting[h.ProducerID] {
			addKVs(t, out, batch, h)
		}
	})
	return out
}

// latestByKey folds records in offset order to the last value per key.
func latestByKey(recs map[int64]kv, end int64) map[string]string {
	out := map[string]string{}
	for off := range end {
		if r, ok := recs[off]; ok {
			out[r.key] = r.value
		}
	}
	return out
}

// markers returns offset → commit of every control batch in the log.
func markers(t *testing.T, l *Log) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	eachBatch(t, l, l.LogEndOffset(), func(batch []byte, h record.Header) {
		if h.Control() {
			recs, _ := record.DecodeRecords(batch, 1<<20)
			typ, _ := record.ParseControlRecord(recs[0].Key)
			out[h.BaseOffset] = typ == record.ControlCommit
		}
	})
	return out
}

// TestCompactionWithTransactions: the cleaner drops the records of aborted
// transactions and keeps committed ones; a marker stays while its
// transaction has a batch, gets a delete horizon once the transaction is
// empty and goes only after the horizon; read_committed reads the same
// latest value per key before and after every pass, never an aborted
// record; a log reopened from scratch has no transaction left open.
func TestCompactionWithTransactions(t *testing.T) {
	clk := clock.NewFake(testStart)
	mem := vfs.NewMem()
	const retention = 60_000
	cfg := Config{SegmentBytes: 1 << 10, IndexIntervalBytes: 100, CleanupCompact: true, DeleteRetentionMs: retention, RetentionMs: -1}
	l := openTest(t, mem, "/d/t-0", cfg, clk)
	seqs := map[int64]int32{}
	txn := func(pid int64, key, value string) int64 {
		t.Helper()
		b := makeBatchOpts(batchOpts{baseTs: clk.Now().UnixMilli(), pid: pid, epoch: 0, seq: seqs[pid], attrs: 0x10},
			testRecord{key: []byte(key), value: []byte(value)})
		seqs[pid]++
		res, err := l.AppendProducer(b, 0, nil)
		if err != nil {
			t.Fatalf("txn append: %v", err)
		}
		return res.FirstOffset
	}
	marker := func(pid int64, commit bool) int64 {
		t.Helper()
		res, err := l.AppendMarker(MarkerAppend{ProducerID: pid, ProducerEpoch: 0, Commit: commit, CoordinatorEpoch: 0})
		if err != nil {
			t.Fatalf("marker: %v", err)
		}
		return res.FirstOffset
	}
	filler := func(n int, tag string) {
		t.Helper()
		for i := range n {
			b := makeBatch(clk.Now().UnixMilli(), testRecord{key: []byte(fmt.Sprint("f", i)), value: []byte(tag + "-filler-filler")})
			if _, err := l.Append(b, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	aborted := txn(7, "a", "aborted")
	abortMarker := marker(7, false)
	txn(8, "b", "committed")
	keptMarker := marker(8, true)
	txn(9, "c", "old")
	emptiedMarker := marker(9, true)
	filler(3, "x")
	if _, err := l.Append(makeBatch(clk.Now().UnixMilli(), testRecord{key: []byte("c"), value: []byte("new")}), 0); err != nil {
		t.Fatal(err)
	}
	filler(30, "y")
	l.SetHighWatermark(l.LogEndOffset())

	want := latestByKey(readCommitted(t, l), l.LogEndOffset())
	if want["a"] != "" || want["b"] != "committed" || want["c"] != "new" {
		t.Fatalf("read_committed before cleaning: %v", want)
	}
	pass := func(name string) {
		t.Helper()
		want := latestByKey(readCommitted(t, l), l.LogEndOffset())
		if _, err := l.clean(context.Background(), clk.Now().UnixMilli(), true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := readCommitted(t, l)
		if d := latestByKey(got, l.LogEndOffset()); fmt.Sprint(d) != fmt.Sprint(want) {
			t.Errorf("%s: read_committed latest = %v, want %v", name, d, want)
		}
		for _, r := range got {
			if r.value == "aborted" {
				t.Errorf("%s: read_committed returned an aborted record", name)
			}
		}
	}
	checkMarkers := func(name string, want map[int64]bool) {
		t.Helper()
		got := markers(t, l)
		for off, present := range want {
			if _, ok := got[off]; ok != present {
				t.Errorf("%s: marker at %d present=%v, want %v", name, off, ok, present)
			}
		}
	}

	pass("first pass")
	if _, ok := readKVs(t, l)[aborted]; ok {
		t.Errorf("aborted record at %d kept", aborted)
	}
	checkMarkers("first pass", map[int64]bool{abortMarker: true, keptMarker: true, emptiedMarker: true})

	clk.Advance(retention / 2 * time.Millisecond)
	filler(30, "z") // new dirty data so that the cleaner runs again
	l.SetHighWatermark(l.LogEndOffset())
	pass("before the horizon")
	checkMarkers("before the horizon", map[int64]bool{abortMarker: true, keptMarker: true, emptiedMarker: true})

	clk.Advance(retention * time.Millisecond)
	filler(30, "w")
	l.SetHighWatermark(l.LogEndOffset())
	pass("after the horizon")
	checkMarkers("after the horizon", map[int64]bool{abortMarker: false, keptMarker: true, emptiedMarker: false})

	// Reopened without snapshots, the producer state is rebuilt from the
	// cleaned log: no transaction is left open.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mem.List("/d/t-0")
	for _, n := range names {
		if len(n) > 9 && n[len(n)-9:] == ".snapshot" {
			if err := mem.Remove("/d/t-0/" + n); err != nil {
				t.Fatal(err)
			}
		}
	}
	l = openTest(t, mem, "/d/t-0", cfg, clk)
	defer l.Close()
	if err := l.LoadProducerState(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso >= 0 && lso < l.LogEndOffset() {
		t.Errorf("after reopen: last stable offset %d below log end %d: a transaction is open", lso, l.LogEndOffset())
	}
}
