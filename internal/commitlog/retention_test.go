package commitlog

import (
	"context"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/vfs"
)

func TestRetentionByTime(t *testing.T) {
	clk := clock.NewFake(testStart)
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 1 << 10, RetentionMs: 60_000, FileDeleteDelayMs: 1000}
	l := openTest(t, mem, "/d/r-0", cfg, clk)
	defer l.Close()
	for i := range 30 {
		ts := clk.Now().UnixMilli()
		if _, err := l.Append(valueBatch(ts, 1, 100, "r"), 0); err != nil {
			t.Fatal(err)
		}
		if i == 14 {
			clk.Advance(50 * time.Second)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	segsBefore := len(l.segs)
	now := clk.Now().Add(20 * time.Second).UnixMilli() // first 15 batches are 70 s old
	n, err := l.applyRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || l.LogStartOffset() == 0 || l.LogStartOffset() > 15 {
		t.Fatalf("deleted %d of %d segments, log start %d", n, segsBefore, l.LogStartOffset())
	}
	if _, err := l.Read(0, 100, 100, true); err == nil {
		t.Errorf("read below log start succeeded")
	}
	readAllBatches(t, l, l.LogStartOffset())
	// Deleted files wait for file.delete.delay.ms as .deleted.
	names, _ := mem.List("/d/r-0")
	deleted := 0
	for _, name := range names {
		if len(name) > 8 && name[len(name)-8:] == deletedSuffix {
			deleted++
		}
	}
	if deleted == 0 {
		t.Errorf("no .deleted files after retention: %v", names)
	}
	l.sweepTrash(now + 2000)
	names, _ = mem.List("/d/r-0")
	for _, name := range names {
		if len(name) > 8 && name[len(name)-8:] == deletedSuffix {
			t.Errorf("%s not removed after the delay", name)
		}
	}
	// Everything expired: the active segment is rolled and deleted too, but
	// only up to the high watermark.
	n, err = l.applyRetention(now + 10*60_000)
	if err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != l.LogEndOffset() || l.Size() != 0 {
		t.Errorf("after full expiry: log [%d, %d) size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	if res, err := l.Append(valueBatch(1, 1, 1, "x"), 0); err != nil || res.FirstOffset != 30 {
		t.Errorf("append after full expiry: %+v %v", res, err)
	}
}

func TestRetentionByBytesRespectsHighWatermark(t *testing.T) {
	mem := vfs.NewMem()
	cfg := Config{SegmentBytes: 1 << 10, RetentionMs: -1, RetentionBytes: 2 << 10}
	l := openTest(t, mem, "/d/r-0", cfg, nil)
	defer l.Close()
	for range 60 {
		if _, err := l.Append(valueBatch(1, 1, 100, "b"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := l.applyRetention(1); n != 0 {
		t.Fatalf("deleted %d segments above the high watermark (0)", n)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n, _ := l.applyRetention(1); n == 0 {
		t.Fatal("nothing deleted by retention.bytes")
	}
	if sz := l.Size(); sz > 2<<10+1<<10 || sz < 2<<10-1<<10 {
		t.Errorf("size after retention.bytes = %d", sz)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	mem := vfs.NewMem()
	l := openTest(t, mem, "/d/t-0", smallConfig(), nil)
	defer l.Close()
	for range 50 {
		l.Append(valueBatch(1, 2, 100, "d"), int32(0))
	}
	if _, err := l.DeleteRecordsBefore(10); err == nil {
		t.Fatal("DeleteRecordsBefore above the high watermark succeeded")
	}
	l.SetHighWatermark(100)
	got, err := l.DeleteRecordsBefore(51)
	if err != nil || got != 51 || l.LogStartOffset() != 51 {
		t.Fatalf("DeleteRecordsBefore(51) = %d, %v", got, err)
	}
	if l.segs[0].base > 51 {
		t.Errorf("segment holding 51 deleted")
	}
	s, err := l.Read(51, 1000, 100, true)
	if err != nil || s.Len == 0 {
		t.Fatalf("Read(51) = %+v, %v", s, err)
	}
	s.Release()
	if _, err := l.Read(50, 1000, 100, true); err == nil {
		t.Error("Read(50) below log start succeeded")
	}
	if e := l.LeaderEpochs().Entries(); len(e) != 1 || e[0].StartOffset != 51 {
		t.Errorf("epochs after DeleteRecords: %v", e)
	}
}

func TestSliceOutlivesDeletion(t *testing.T) {
	l := openTest(t, vfs.Default, t.TempDir()+"/t-0", smallConfig(), nil)
	for range 40 {
		l.Append(valueBatch(1, 2, 100, "s"), 0)
	}
	s, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(nil); err != nil {
		t.Errorf("slice unreadable after truncation: %v", err)
	}
	s.Release()
	s.Release() // idempotent
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestEpochCacheEndOffsetFor(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", smallConfig(), nil)
	defer l.Close()
	c := l.LeaderEpochs()
	for _, e := range []EpochEntry{{1, 0}, {3, 10}, {6, 25}} {
		if err := c.Assign(e.Epoch, e.StartOffset); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		l.Append(valueBatch(1, 2, 10, "e"), -1)
	}
	f := func(req int32, wantE int32, wantOff int64) {
		t.Helper()
		if e, off := c.EndOffsetFor(req); e != wantE || off != wantOff {
			t.Errorf("EndOffsetFor(%d) = (%d, %d), want (%d, %d)", req, e, off, wantE, wantOff)
		}
	}
	f(0, 0, 0)
	f(1, 1, 10)
	f(2, 1, 10)
	f(3, 3, 25)
	f(5, 3, 25)
	f(6, 6, 40)
	f(7, -1, -1)
	f(-1, -1, -1)
	// A conflicting newer epoch replaces entries at or after its start.
	c.Assign(7, 20)
	if got := c.Entries(); len(got) != 3 || got[2] != (EpochEntry{7, 20}) {
		t.Errorf("entries after conflicting assign: %v", got)
	}
}

func TestManagerRunAndFlushMs(t *testing.T) {
	clk := clock.NewFake(testStart)
	mem := vfs.NewMem()
	m, err := NewManager(mem, "/data", testOpts(clk))
	if err != nil {
		t.Fatal(err)
	}
	m.tick = time.Millisecond
	l, err := m.Create("t", 0, Config{FlushMs: 1000, SegmentBytes: 1 << 10, RetentionMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if l.Durable() {
		t.Fatal("flush.ms log reports Durable")
	}
	for range 20 {
		l.Append(valueBatch(clk.Now().UnixMilli(), 1, 100, "m"), 0)
	}
	if l.DurableOffset() == l.LogEndOffset() {
		t.Fatal("everything durable without a flush")
	}
	clk.Advance(2 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for l.DurableOffset() < l.LogEndOffset() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.DurableOffset() != l.LogEndOffset() {
		t.Errorf("flush.ms flusher did not run: durable %d, LEO %d", l.DurableOffset(), l.LogEndOffset())
	}
	if _, err := m.Create("t", 0, Config{}); err == nil {
		t.Error("Create of an existing log succeeded")
	}
	if err := m.Remove("t", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("t", 0); ok {
		t.Error("log still present after Remove")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHandleCacheBoundsOpenFiles(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(nil)
	opts.MaxOpenFiles = 4
	l, err := Open(mem, "/d/t-0", Config{SegmentBytes: 1 << 10, RetentionMs: -1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 100 {
		l.Append(valueBatch(1, 1, 200, "h"), 0)
	}
	if len(l.segs) < 10 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	readAllBatches(t, l, 0)
	l.hc.mu.Lock()
	open := len(l.hc.open)
	l.hc.mu.Unlock()
	if open > 5 {
		t.Errorf("%d files open, limit 4 (+1 while opening)", open)
	}
}
