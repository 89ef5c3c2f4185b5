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

// kv is one data record: key, value, and whether it is a tombstone.
type kv struct {
	key, value string
	tombstone  bool
}

// readKVs returns offset → record of every data record of l.
func readKVs(t *testing.T, l *Log) map[int64]kv {
	t.Helper()
	out := map[int64]kv{}
	eachBatch(t, l, l.LogEndOffset(), func(batch []byte, h record.Header) {
		if !h.Control() {
			addKVs(t, out, batch, h)
		}
	})
	return out
}

// addKVs adds the records of the data batch to out (offset → record).
func addKVs(t *testing.T, out map[int64]kv, batch []byte, h record.Header) {
	t.Helper()
	recs, err := record.DecodeRecords(batch, 1<<20)
	if err != nil {
		t.Fatalf("decode batch %d: %v", h.BaseOffset, err)
	}
	for _, r := range recs {
		out[h.BaseOffset+int64(r.OffsetDelta)] = kv{string(r.Key), string(r.Value), r.Value == nil}
	}
}

// eachBatch calls f for every batch of l from its log start offset up to
// end, in offset order, as a consumer reads them.
func eachBatch(t *testing.T, l *Log, end int64, f func(batch []byte, h record.Header)) {
	t.Helper()
	off := l.LogStartOffset()
	for range 100000 {
		if off >= end {
			return
		}
		s, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.ReadAll(nil)
		s.Release()
		if len(b) == 0 {
			return
		}
		it := record.NewBatches(b)
		for {
			batch, h, ok := it.Next()
			if !ok {
				break
			}
			off = h.NextOffset()
			f(batch, h)
		}
	}
	t.Fatalf("reading %d batches did not reach offset %d", 100000, end)
}

func TestCompactionKeepsLatestPerKey(t *testing.T) {
	clk := clock.NewFake(testStart)
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 2 << 10, IndexIntervalBytes: 100, CleanupCompact: true, DeleteRetentionMs: 60_000, RetentionMs: -1}
	l := openTest(t, mem, "/d/c-0", cfg, clk)
	latest := map[string]int64{}
	var off int64
	for i := range 200 {
		key := fmt.Sprintf("k%d", i%10)
		var val []byte
		if i%10 != 3 || i < 150 {
			val = []byte(fmt.Sprintf("v%d", i))
		} // k3 ends with a tombstone
		res, err := l.Append(makeBatch(clk.Now().UnixMilli(), testRecord{key: []byte(key), value: val}), 0)
		if err != nil {
			t.Fatal(err)
		}
		latest[key] = res.FirstOffset
		off = res.LastOffset
	}
	l.SetHighWatermark(off + 1)
	before := l.Size()
	st, err := l.clean(context.Background(), clk.Now().UnixMilli(), true)
	if err != nil {
		t.Fatal(err)
	}
	if st.segments == 0 || l.Size() >= before {
		t.Fatalf("clean: %+v, size %d → %d", st, before, l.Size())
	}
	activeBase := l.active().base
	got := readKVs(t, l)
	for o, r := range got {
		if o >= activeBase {
			continue
		}
		if latest[r.key] != o && latest[r.key] < activeBase {
			t.Errorf("offset %d key %s kept, but latest is %d", o, r.key, latest[r.key])
		}
	}
	for k, o := range latest {
		if r, ok := got[o]; !ok || r.key != k {
			t.Errorf("latest record of %s at %d missing: %+v", k, o, r)
		}
	}
	if r := got[latest["k3"]]; !r.tombstone {
		t.Errorf("tombstone of k3 dropped before delete.retention.ms: %+v", r)
	}
	// After delete.retention.ms the tombstone goes (if it is cleanable).
	clk.Advance(2 * time.Minute)
	if _, err := l.clean(context.Background(), clk.Now().UnixMilli(), true); err != nil {
		t.Fatal(err)
	}
	if latest["k3"] < activeBase {
		if _, ok := readKVs(t, l)[latest["k3"]]; ok {
			t.Errorf("tombstone of k3 still present after delete horizon")
		}
	}
	// Everything still reads after a reopen (indexes of swapped segments).
	l.Close()
	l2 := openTest(t, mem, "/d/c-0", cfg, clk)
	defer l2.Close()
	got2 := readKVs(t, l2)
	if len(got2) == 0 || l2.LogEndOffset() != off+1 {
		t.Fatalf("after reopen: %d records, LEO %d", len(got2), l2.LogEndOffset())
	}
}

func TestCompactionDropsAbortedTransactions(t *testing.T) {
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 1 << 10, CleanupCompact: true, RetentionMs: -1}
	l := openTest(t, mem, "/d/c-0", cfg, nil)
	defer l.Close()
	txn := func(pid int64, key string) {
		b := makeBatchOpts(batchOpts{baseTs: 1, pid: pid, epoch: 0, seq: 0, attrs: 0x10}, testRecord{key: []byte(key), value: []byte("txn")})
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	marker := func(pid int64, commit bool) {
		b := record.AppendMarker(nil, record.Marker{ProducerID: pid, ProducerEpoch: 0, Commit: commit, Timestamp: 1})
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	txn(7, "a")
	txn(8, "b")
	marker(7, false) // abort a
	marker(8, true)  // commit b
	for i := range 40 {
		if _, err := l.Append(makeBatch(1, testRecord{key: []byte(fmt.Sprint("x", i)), value: []byte("filler-filler-filler")}), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.clean(context.Background(), 10, true); err != nil {
		t.Fatal(err)
	}
	got := readKVs(t, l)
	if _, ok := got[0]; ok {
		t.Errorf("aborted record at offset 0 kept")
	}
	if r, ok := got[1]; !ok || r.key != "b" {
		t.Errorf("committed record at offset 1 lost: %+v", r)
	}
	// Markers are kept.
	s, _ := l.Read(2, 1<<20, l.LogEndOffset(), true)
	b, _ := s.ReadAll(nil)
	s.Release()
	h, _ := record.ParseHeader(b)
	if !h.Control() || h.BaseOffset != 2 {
		t.Errorf("marker at 2 missing: %+v", h)
	}
}

func TestRecoveryFinishesOrDiscardsSwap(t *testing.T) {
	f := func(suffix string, wantCleaned bool) {
		t.Helper()
		mem := vfs.NewMem()
		cfg := smallConfig()
		l := openTest(t, mem, "/d/t-0", cfg, nil)
		for range 30 {
			l.Append(valueBatch(1, 2, 64, "s"), 0)
		}
		base := l.segs[0].base
		leo := l.LogEndOffset()
		l.Close()
		// A "cleaned" copy of segment 0 holding only its last batch.
		data, _ := readWholeFile(mem, "/d/t-0/"+segmentName(base)+logSuffix)
		var lastBatch []byte
		it := record.NewBatches(data)
		for {
			b, _, ok := it.Next()
			if !ok {
				break
			}
			lastBatch = b
		}
		writeRaw(t, mem, "/d/t-0/"+segmentName(base)+logSuffix+suffix, lastBatch)
		l2 := openTest(t, mem, "/d/t-0", cfg, nil)
		defer l2.Close()
		n := len(readAllBatches(t, l2, 0))
		if cleaned := n < 30; cleaned != wantCleaned || l2.LogEndOffset() != leo {
			t.Errorf("%s: %d batches, LEO %d (want %d); cleaned=%v want %v", suffix, n, l2.LogEndOffset(), leo, cleaned, wantCleaned)
		}
		names, _ := mem.List("/d/t-0")
		for _, name := range names {
			if name == segmentName(base)+logSuffix+suffix {
				t.Errorf("%s left behind", name)
			}
		}
	}
	f(cleanedSuffix, false)
	f(swapSuffix, true)
}
