package commitlog

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendReadRoundTrip(t *testing.T) {
	clk := clock.NewFake(testStart)
	l := openTest(t, vfs.Default, t.TempDir()+"/t-0", smallConfig(), clk)
	defer l.Close()
	var want []int64
	for i := range 50 {
		res, err := l.Append(valueBatch(testStart.UnixMilli(), 3, 50, "x"), 1)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if res.FirstOffset != int64(3*i) || res.LastOffset != int64(3*i+2) || res.NumRecords != 3 {
			t.Fatalf("Append %d = %+v", i, res)
		}
		want = append(want, res.FirstOffset)
		if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
			t.Fatalf("WaitDurable: %v", err)
		}
	}
	if got := l.LogEndOffset(); got != 150 {
		t.Fatalf("LEO = %d, want 150", got)
	}
	if n := len(l.segs); n < 3 {
		t.Errorf("%d segments, want a few rolls at 4 KiB", n)
	}
	hs := readAllBatches(t, l, 0)
	if len(hs) != len(want) {
		t.Fatalf("read %d batches, want %d", len(hs), len(want))
	}
	for i, h := range hs {
		if h.BaseOffset != want[i] || h.PartitionLeaderEpoch != 1 {
			t.Errorf("batch %d: base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
	// Reads starting inside a batch return the batch holding the offset.
	f := func(off int64, maxBytes int32, maxOff int64, minOne bool, wantFirst int64, wantN int) {
		t.Helper()
		s, err := l.Read(off, maxBytes, maxOff, minOne)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		defer s.Release()
		b, _ := s.ReadAll(nil)
		n := 0
		first := int64(-1)
		for len(b) > 0 {
			h, _ := record.ParseHeader(b)
			if first < 0 {
				first = h.BaseOffset
			}
			n++
			b = b[h.Size():]
		}
		if first != wantFirst || n != wantN {
			t.Errorf("Read(%d, %d, %d, %v) = first %d, %d batches; want %d, %d", off, maxBytes, maxOff, minOne, first, n, wantFirst, wantN)
		}
	}
	size := int32(len(valueBatch(0, 3, 50, "x")))
	f(4, size, 150, false, 3, 1)
	f(4, size*2, 150, false, 3, 2)
	f(4, size-1, 150, false, -1, 0)
	f(4, size-1, 150, true, 3, 1)
	f(4, size*10, 9, false, 3, 2) // batch 9..11 is not below the HW 9
	f(150, 1000, 150, true, -1, 0)
	if _, err := l.Read(151, 100, 200, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("Read(151) err = %v, want ErrOffsetOutOfRange", err)
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", Config{MaxMessageBytes: 500}, nil)
	defer l.Close()
	good := valueBatch(1, 2, 10, "a")
	f := func(name string, b []byte, want error) {
		t.Helper()
		if _, err := l.Append(b, 0); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
		if l.LogEndOffset() != 0 || l.Size() != 0 {
			t.Errorf("%s: log changed", name)
		}
	}
	crc := append([]byte(nil), good...)
	crc[len(crc)-1] ^= 1
	f("crc", crc, record.ErrCorrupt)
	f("truncated", good[:len(good)-3], record.ErrCorrupt)
	f("short", good[:10], record.ErrTruncated)
	f("too large", valueBatch(1, 10, 100, "a"), record.ErrTooLarge)
	magic := append([]byte(nil), good...)
	magic[16] = 1
	f("magic", magic, record.ErrMagic)
	f("empty", nil, record.ErrInvalid)
}

func TestGroupCommitConcurrent(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/d/t-0", Config{SegmentBytes: 64 << 10}, nil)
	defer l.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				res, err := l.Append(valueBatch(1, 2, 100, "w"), int32(w%2))
				if err != nil {
					errs <- err
					return
				}
				if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
					errs <- err
					return
				}
				if l.DurableOffset() <= res.LastOffset {
					errs <- errors.New("durable offset below acked offset")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(readAllBatches(t, l, 0)); got != 400 {
		t.Fatalf("read %d batches, want 400", got)
	}
}

func TestReopenCleanAndUnclean(t *testing.T) {
	for _, clean := range []bool{true, false} {
		mem := vfs.NewMem()
		l := openTest(t, mem, "/d/t-0", smallConfig(), nil)
		for range 40 {
			res, err := l.Append(valueBatch(1, 2, 64, "r"), 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
				t.Fatal(err)
			}
		}
		var fs vfs.FS = mem
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			fs = mem.CrashClone()
			l.Close()
		}
		l2 := openTest(t, fs, "/d/t-0", smallConfig(), nil)
		if l2.LogEndOffset() != 80 {
			t.Errorf("clean=%v: LEO after reopen = %d, want 80", clean, l2.LogEndOffset())
		}
		if n := len(readAllBatches(t, l2, 0)); n != 40 {
			t.Errorf("clean=%v: %d batches after reopen, want 40", clean, n)
		}
		if e, off, ok := l2.LeaderEpochs().Latest(); !ok || e != 3 || off != 0 {
			t.Errorf("clean=%v: latest epoch = %d@%d %v", clean, e, off, ok)
		}
		res, err := l2.Append(valueBatch(1, 1, 10, "after"), 4)
		if err != nil || res.FirstOffset != 80 {
			t.Errorf("clean=%v: append after reopen = %+v, %v", clean, res, err)
		}
		l2.Close()
	}
}

func TestTruncate(t *testing.T) {
	mem := vfs.NewMem()
	l := openTest(t, mem, "/d/t-0", smallConfig(), nil)
	defer l.Close()
	for i := range 60 {
		if _, err := l.Append(valueBatch(1, 2, 64, "t"), int32(i/20)); err != nil {
			t.Fatal(err)
		}
	}
	f := func(to, wantLEO int64) {
		t.Helper()
		if err := l.Truncate(to); err != nil {
			t.Fatalf("Truncate(%d): %v", to, err)
		}
		if got := l.LogEndOffset(); got != wantLEO {
			t.Fatalf("Truncate(%d): LEO = %d, want %d", to, got, wantLEO)
		}
		hs := readAllBatches(t, l, l.LogStartOffset())
		if n := len(hs); n > 0 && hs[n-1].NextOffset() != wantLEO {
			t.Fatalf("Truncate(%d): last batch ends at %d", to, hs[n-1].NextOffset())
		}
	}
	f(200, 120) // beyond LEO: no-op
	f(101, 100) // inside a batch: cut at its start
	f(60, 60)
	if e, _, _ := l.LeaderEpochs().Latest(); e != 1 {
		t.Errorf("latest epoch after truncating to 60 = %d, want 1", e)
	}
	f(40, 40)
	if e, _, _ := l.LeaderEpochs().Latest(); e != 0 {
		t.Errorf("latest epoch after truncating to 40 = %d, want 0", e)
	}
	if _, err := l.Append(valueBatch(1, 2, 64, "t"), 5); err != nil {
		t.Fatal(err)
	}
	f(0, 0)
	if _, ok := l.LeaderEpochs().Entries(), true; len(l.LeaderEpochs().Entries()) != 0 || !ok {
		t.Errorf("epochs after full truncation: %v", l.LeaderEpochs().Entries())
	}
	// Reopen after a crash: truncated data must not come back.
	if _, err := l.Append(valueBatch(1, 2, 64, "n"), 6); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, mem.CrashClone(), "/d/t-0", smallConfig(), nil)
	defer l2.Close()
	if l2.LogEndOffset() != 2 {
		t.Errorf("LEO after crash = %d, want 2", l2.LogEndOffset())
	}
}
