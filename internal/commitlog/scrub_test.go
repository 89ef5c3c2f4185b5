package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// corruptFixture is a data directory with one log, "t-0", of several
// sealed segments, closed cleanly (so recovery checks only the active
// segment's tail), and the batches appended.
type corruptFixture struct {
	fs      vfs.FS
	dir     string
	batches [][]byte // as appended (offsets assigned)
}

func newCorruptFixture(t testing.TB, fs vfs.FS, dir string, n int) *corruptFixture {
	t.Helper()
	m, err := NewManager(fs, dir, testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Create("t", 0, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	fx := &corruptFixture{fs: fs, dir: dir}
	for i := range n {
		b := valueBatch(int64(1000+i), 2, 100, fmt.Sprintf("b%d", i))
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
		fx.batches = append(fx.batches, b)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *corruptFixture) logDir() string { return fx.fs.PathJoin(fx.dir, "t-0") }

// segments returns the base offsets of the log's segment files.
func (fx *corruptFixture) segments(t testing.TB) []int64 {
	t.Helper()
	names, err := fx.fs.List(fx.logDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, n := range names {
		if base, ok := parseSegmentName(n); ok {
			out = append(out, base)
		}
	}
	return out
}

// flip flips bit of the byte at off bytes into the batch at index i of the
// sealed segment base (off counts from the batch's magic byte, so that
// every flip is covered by a check). It returns the batch's base offset.
func (fx *corruptFixture) flip(t testing.TB, base int64, i, off int, bit byte) int64 {
	t.Helper()
	p := fx.fs.PathJoin(fx.logDir(), segmentName(base)+logSuffix)
	b, err := readWholeFile(fx.fs, p)
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for k := 0; ; k++ {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			t.Fatalf("segment %d: batch %d: %v", base, k, err)
		}
		if k == i {
			at := pos + 16 + off%(h.Size()-16)
			b[at] ^= bit
			f, err := fx.fs.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(f.Sync(), f.Close()); err != nil {
				t.Fatal(err)
			}
			return h.BaseOffset
		}
		pos += h.Size()
	}
}

// open loads the data directory with TruncateCorrupt set as given and
// returns the manager, the log and the errors OnOffline was told.
func (fx *corruptFixture) open(t testing.TB, truncate bool) (*Manager, *Log, *offlineCalls) {
	t.Helper()
	calls := &offlineCalls{}
	opts := testOpts(nil)
	opts.TruncateCorrupt = truncate
	opts.OnOffline = calls.add
	opts.ScrubBytesPerSecond = 1 << 30
	m, err := NewManager(fx.fs, fx.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(func(string, int32) Config { return smallConfig() }); err != nil {
		t.Fatal(err)
	}
	l, ok := m.Get("t", 0)
	if !ok {
		t.Fatal("log t-0 not loaded")
	}
	return m, l, calls
}

type offlineCalls struct {
	mu   sync.Mutex
	errs []error
}

func (c *offlineCalls) add(_ *Log, err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *offlineCalls) get() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

func (fx *corruptFixture) hasMarker(t testing.TB) bool {
	t.Helper()
	_, ok, err := readCorruptMarker(fx.fs, fx.logDir())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// checkPrefix reads the log from 0 and checks it holds exactly the first
// batches appended, up to offset end.
func (fx *corruptFixture) checkPrefix(t testing.TB, l *Log, end int64) {
	t.Helper()
	if got := l.LogEndOffset(); got != end {
		t.Fatalf("log end offset %d, want %d", got, end)
	}
	l.SetHighWatermark(end)
	hs := readAllBatches(t, l, 0)
	for i, h := range hs {
		want, _ := record.ParseHeader(fx.batches[i])
		if h.BaseOffset != want.BaseOffset || h.CRC != want.CRC {
			t.Fatalf("batch %d: offset %d crc %x, want %d %x", i, h.BaseOffset, h.CRC, want.BaseOffset, want.CRC)
		}
	}
	if n := len(hs); n > 0 && hs[n-1].NextOffset() != end {
		t.Fatalf("batches end at %d, want %d", hs[n-1].NextOffset(), end)
	}
}

// TestReadDetectsCorruptSealedSegment: a bit flipped in a sealed segment
// below the recovery point (a clean restart checks nothing there) is found
// by the first read of that segment: the read fails with ErrLogOffline and
// ErrCorruptLog, the log goes offline (OnOffline is told once), every later
// read fails, and the marker names the batch.
func TestReadDetectsCorruptSealedSegment(t *testing.T) {
	fx := newCorruptFixture(t, vfs.Default, t.TempDir(), 60)
	segs := fx.segments(t)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want >= 3", len(segs))
	}
	bad := fx.flip(t, segs[1], 2, 40, 0x10)
	m, l, calls := fx.open(t, true)
	defer m.Close()
	l.SetHighWatermark(l.LogEndOffset())
	// The segment before it and the active one are served.
	if s, err := l.Read(0, 1<<20, l.LogEndOffset(), true); err != nil || s.Len == 0 {
		t.Fatalf("read of the first segment: %v", err)
	} else {
		s.Release()
	}
	_, err := l.Read(bad, 1<<20, l.LogEndOffset(), true)
	if !errors.Is(err, ErrLogOffline) || !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("read at the corrupt batch: %v, want ErrLogOffline and ErrCorruptLog", err)
	}
	if !l.Offline() {
		t.Fatal("log not offline")
	}
	if _, err := l.Read(0, 1<<20, l.LogEndOffset(), true); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("read after the corruption: %v, want ErrCorruptLog", err)
	}
	if got := calls.get(); len(got) != 1 || !errors.Is(got[0], ErrCorruptLog) {
		t.Fatalf("OnOffline calls %v, want one ErrCorruptLog", got)
	}
	mk, ok, err := readCorruptMarker(fx.fs, fx.logDir())
	if err != nil || !ok || mk.base != segs[1] {
		t.Fatalf("marker %+v %v %v, want segment %d", mk, ok, err, segs[1])
	}
}

// TestScrubDetectsCorruptSealedSegment: the Manager's scrubber finds a flip
// no read touches.
func TestScrubDetectsCorruptSealedSegment(t *testing.T) {
	fx := newCorruptFixture(t, vfs.Default, t.TempDir(), 60)
	segs := fx.segments(t)
	fx.flip(t, segs[len(segs)-2], 0, 200, 0x01)
	m, l, calls := fx.open(t, true)
	defer m.Close()
	m.tick = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !l.Offline() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !l.Offline() {
		t.Fatal("the scrubber did not find the corrupt batch in 30 s")
	}
	if got := calls.get(); len(got) != 1 || !errors.Is(got[0], ErrCorruptLog) {
		t.Fatalf("OnOffline calls %v, want one ErrCorruptLog", got)
	}
	if !fx.hasMarker(t) {
		t.Fatal("no corruption marker")
	}
}

// TestScrubPassOverCleanLog: a pass over a healthy log reads every segment
// and marks it checked, so reads do not check it again.
func TestScrubPassOverCleanLog(t *testing.T) {
	fx := newCorruptFixture(t, vfs.NewMem(), "/data", 60)
	m, l, _ := fx.open(t, true)
	defer m.Close()
	sc := newScrubber(1<<10, time.Second, time.Hour)
	for range 1000 {
		sc.run(context.Background(), 0, m.Logs, quietLogger())
		if !sc.passing {
			break
		}
	}
	if sc.passing || sc.bytes != l.Size() {
		t.Fatalf("pass running %v, %d bytes read, want done with %d", sc.passing, sc.bytes, l.Size())
	}
	l.mu.RLock()
	for _, s := range l.segs {
		if v := s.verified.Load(); v != s.size {
			t.Errorf("segment %d checked to %d of %d", s.base, v, s.size)
		}
	}
	l.mu.RUnlock()
	if l.Offline() {
		t.Fatal("a healthy log went offline")
	}
	// The next pass waits for the interval.
	sc.run(context.Background(), 1000, m.Logs, quietLogger())
	if sc.passing {
		t.Fatal("a pass started before the interval")
	}
}

// TestRestartTruncatesAtCorruptBatch: with TruncateCorrupt the next open
// truncates the log at the marked batch, drops the later segments, rebuilds
// the indexes, removes the marker and takes appends again.
func TestRestartTruncatesAtCorruptBatch(t *testing.T) {
	fx := newCorruptFixture(t, vfs.Default, t.TempDir(), 60)
	segs := fx.segments(t)
	bad := fx.flip(t, segs[1], 3, 7, 0x80)
	m, l, _ := fx.open(t, true)
	if _, err := l.Read(bad, 1<<20, l.LogEndOffset(), true); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("read: %v, want ErrCorruptLog", err)
	}
	m.Close()

	m, l, calls := fx.open(t, true)
	defer m.Close()
	if l.Offline() || len(calls.get()) > 0 {
		t.Fatalf("log offline after the repair: %v", calls.get())
	}
	if fx.hasMarker(t) {
		t.Fatal("marker not removed")
	}
	fx.checkPrefix(t, l, bad)
	if got := fx.segments(t); len(got) != 2 || got[1] != segs[1] {
		t.Fatalf("segments %v, want %v", got, segs[:2])
	}
	if e := l.LeaderEpochs().Entries(); len(e) == 0 || e[len(e)-1].StartOffset >= bad {
		t.Fatalf("epoch entries %v past the new end %d", e, bad)
	}
	res, err := l.Append(valueBatch(5000, 1, 10, "new"), 2)
	if err != nil || res.FirstOffset != bad {
		t.Fatalf("append after the repair: %+v %v, want offset %d", res, err, bad)
	}
}

// TestRestartKeepsCorruptLogOffline: without TruncateCorrupt (single-node
// mode) the marked log opens offline with its data kept, and OnOffline is
// not called (nothing a restart could fix).
func TestRestartKeepsCorruptLogOffline(t *testing.T) {
	fx := newCorruptFixture(t, vfs.Default, t.TempDir(), 60)
	segs := fx.segments(t)
	bad := fx.flip(t, segs[0], 1, 99, 0x04)
	m, l, _ := fx.open(t, false)
	leo := l.LogEndOffset()
	if _, err := l.Read(bad, 1<<20, leo, true); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("read: %v, want ErrCorruptLog", err)
	}
	m.Close()

	m, l, calls := fx.open(t, false)
	defer m.Close()
	if !l.Offline() || l.LogEndOffset() != leo {
		t.Fatalf("offline %v, log end %d; want offline with end %d", l.Offline(), l.LogEndOffset(), leo)
	}
	if _, err := l.Read(0, 1<<20, leo, true); !errors.Is(err, ErrLogOffline) || !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("read: %v, want ErrLogOffline and ErrCorruptLog", err)
	}
	if _, err := l.Append(valueBatch(1, 1, 10, "x"), 1); !errors.Is(err, ErrLogOffline) {
		t.Fatalf("append: %v, want ErrLogOffline", err)
	}
	if got := calls.get(); len(got) != 0 {
		t.Fatalf("OnOffline calls %v, want none", got)
	}
	if !fx.hasMarker(t) {
		t.Fatal("marker removed")
	}
}

// TestCorruptionProperty: for seeded flips of any bit from a batch's magic
// byte on, in any sealed segment, reading the whole log fails at the latest
// in the damaged segment, and the repaired log holds exactly the batches
// before the damaged one.
func TestCorruptionProperty(t *testing.T) {
	for seed := range uint64(25) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			fx := newCorruptFixture(t, vfs.NewMem(), "/data", 20+rng.IntN(60))
			segs := fx.segments(t)
			base := segs[rng.IntN(len(segs)-1)]
			// Batches in the segment: the ones whose offsets fall in it.
			var n int
			for _, b := range fx.batches {
				h, _ := record.ParseHeader(b)
				if h.BaseOffset >= base && (base == segs[len(segs)-1] || h.BaseOffset < nextBase(segs, base)) {
					n++
				}
			}
			bad := fx.flip(t, base, rng.IntN(n), rng.IntN(1<<20), byte(1)<<rng.IntN(8))
			m, l, _ := fx.open(t, true)
			l.SetHighWatermark(l.LogEndOffset())
			var err error
			off := int64(0)
			for range 10_000 {
				var s *Slice
				if s, err = l.Read(off, 512, l.LogEndOffset(), true); err != nil || s.Len == 0 {
					break
				}
				b, _ := s.ReadAll(nil)
				s.Release()
				for len(b) > 0 {
					h, _ := record.ParseHeader(b)
					if h.BaseOffset >= bad {
						t.Fatalf("served the corrupt batch at %d", h.BaseOffset)
					}
					off, b = h.NextOffset(), b[h.Size():]
				}
			}
			if !errors.Is(err, ErrCorruptLog) || off < base || off > bad {
				t.Fatalf("reads stopped at %d with %v; want ErrCorruptLog between %d and %d", off, err, base, bad)
			}
			m.Close()
			m, l, _ = fx.open(t, true)
			defer m.Close()
			fx.checkPrefix(t, l, bad)
		})
	}
}

func nextBase(segs []int64, base int64) int64 {
	for _, s := range segs {
		if s > base {
			return s
		}
	}
	return -1
}

// TestReadVerifyRacesTruncate: reads that check segments for the first time
// while the log is truncated and appended to never report a healthy log
// corrupt (run with -race).
func TestReadVerifyRacesTruncate(t *testing.T) {
	fx := newCorruptFixture(t, vfs.NewMem(), "/data", 40)
	m, l, calls := fx.open(t, true)
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for ctx.Err() == nil {
				leo := l.LogEndOffset()
				s, err := l.Read(rng.Int64N(leo+1), 4096, leo, true)
				if errors.Is(err, ErrCorruptLog) {
					t.Errorf("healthy log reported corrupt: %v", err)
					cancel()
					return
				}
				s.Release()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; ctx.Err() == nil && i < 200; i++ {
		leo := l.LogEndOffset()
		if err := l.Truncate(leo - rng.Int64N(min(leo, 30)+1)); err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(10) {
			if _, err := l.Append(valueBatch(1, 2, 100, "r"), 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	wg.Wait()
	if got := calls.get(); len(got) != 0 {
		t.Fatalf("OnOffline calls %v", got)
	}
}
