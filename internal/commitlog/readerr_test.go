package commitlog

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestReadErrorTakesLogOffline: an error of the file system (EIO) while
// reading a sealed segment takes the log offline with ErrLogOffline wrapping
// it (OnOffline told once), whether or not this process checked the
// segment before, and whether it fails a batch header read or the first-read
// check. It is not corruption: no marker is written, and once the fault is
// gone a reopen (even with TruncateCorrupt) serves every batch.
func TestReadErrorTakesLogOffline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		checked   bool  // read the segment once before the fault
		failAfter int64 // reads of the segment file that pass once the fault is on
		maxBytes  int32
		wantMsg   string
	}{
		{name: "unchecked/header", maxBytes: 1 << 20},
		{name: "unchecked/check", failAfter: 2, maxBytes: 1, wantMsg: "check segment"},
		{name: "checked/header", checked: true, maxBytes: 1 << 20},
		{name: "checked/next-header", checked: true, failAfter: 1, maxBytes: 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failing atomic.Bool
			var passed atomic.Int64
			var target atomic.Value
			target.Store("")
			fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
				if op != vfs.OpRead || !failing.Load() || path != target.Load().(string) {
					return vfs.Fault{}
				}
				if passed.Add(1) <= tc.failAfter {
					return vfs.Fault{}
				}
				return vfs.Fault{Err: syscall.EIO}
			}))
			fx := newCorruptFixture(t, fs, "/data", 60)
			segs := fx.segments(t)
			if len(segs) < 3 {
				t.Fatalf("%d segments, want >= 3", len(segs))
			}
			target.Store(fs.PathJoin(fx.logDir(), segmentName(segs[1])+logSuffix))
			last, err := record.ParseHeader(fx.batches[len(fx.batches)-1])
			if err != nil {
				t.Fatal(err)
			}
			end := last.NextOffset()

			m, l, calls := fx.open(t, true)
			l.SetHighWatermark(l.LogEndOffset())
			if tc.checked {
				s, err := l.Read(segs[1], 1<<30, l.LogEndOffset(), true)
				if err != nil || s.Len == 0 {
					t.Fatalf("read before the fault: %v", err)
				}
				s.Release()
				if v := l.segs[1].verified.Load(); v == 0 {
					t.Fatal("segment not checked by the first read")
				}
			}
			failing.Store(true)
			_, err = l.Read(segs[1], tc.maxBytes, l.LogEndOffset(), true)
			if !errors.Is(err, ErrLogOffline) || !errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorruptLog) {
				t.Fatalf("read with EIO: %v, want ErrLogOffline wrapping EIO, not ErrCorruptLog", err)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("read with EIO: %v, want it from %q", err, tc.wantMsg)
			}
			if !l.Offline() {
				t.Fatal("log not offline")
			}
			if _, err := l.Append(valueBatch(1, 1, 10, "x"), 1); !errors.Is(err, ErrLogOffline) {
				t.Fatalf("append after the read error: %v, want ErrLogOffline", err)
			}
			got := calls.get()
			if len(got) != 1 || !errors.Is(got[0], syscall.EIO) || errors.Is(got[0], ErrCorruptLog) {
				t.Fatalf("OnOffline calls %v, want one EIO", got)
			}
			// The log dir probe reads the failed bytes again (ADR 0006).
			var re *ReadError
			fi, err := fs.Stat(target.Load().(string))
			if err != nil {
				t.Fatal(err)
			}
			if !errors.As(got[0], &re) || re.Path != target.Load().(string) || re.Off < 0 || re.Off >= fi.Size() {
				t.Fatalf("OnOffline error %v: want a *ReadError of %s inside the file, got %+v", got[0], target.Load(), re)
			}
			if fx.hasMarker(t) {
				t.Fatal("a read error left a corruption marker")
			}
			m.Close()
			if fx.hasMarker(t) {
				t.Fatal("a read error left a corruption marker after close")
			}

			failing.Store(false)
			m2, l2, calls2 := fx.open(t, true)
			defer m2.Close()
			if l2.Offline() {
				t.Fatal("reopened log offline")
			}
			fx.checkPrefix(t, l2, end)
			if got := calls2.get(); len(got) != 0 {
				t.Fatalf("OnOffline calls after the reopen: %v", got)
			}
		})
	}
}

// TestTruncateReadErrorCutsNothingKept: a read error while Truncate walks
// the batches of the segment it cuts, on the header of a batch below the
// truncation point, takes the log offline instead of cutting where the read
// failed. The fault hits one read only (a flaky disk; the read after it
// succeeds): before the fix (H15) Truncate took the failed header for the end
// of the data, found the offset before it by scanning again — which worked —
// and cut the segment there, silently dropping the kept batches from that
// header on. Now the later segments are gone (as asked), the log is offline,
// and after a reopen every batch of that segment is there.
func TestTruncateReadErrorCutsNothingKept(t *testing.T) {
	var failing atomic.Bool
	var reads atomic.Int64
	var target atomic.Value
	target.Store("")
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		// Only the second read of the segment fails: the index lookup reads
		// the header at its entry (a kept batch), the walk reads it again.
		if op == vfs.OpRead && failing.Load() && path == target.Load().(string) && reads.Add(1) == 2 {
			return vfs.Fault{Err: syscall.EIO}
		}
		return vfs.Fault{}
	}))
	fx := newCorruptFixture(t, fs, "/data", 60)
	segs := fx.segments(t)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want >= 3", len(segs))
	}
	target.Store(fs.PathJoin(fx.logDir(), segmentName(segs[1])+logSuffix))
	m, l, calls := fx.open(t, true)
	failing.Store(true)
	// Keeps all of segs[1] but its last batch (two records).
	keep := segs[2] - 2
	err := l.Truncate(keep)
	failing.Store(false)
	if reads.Load() < 2 {
		t.Fatalf("Truncate read segment %d %d times: the fault never hit", segs[1], reads.Load())
	}
	m.Close()
	if fx.hasMarker(t) {
		t.Fatal("a read error left a corruption marker")
	}
	m2, l2, _ := fx.open(t, true)
	defer m2.Close()
	if got := l2.LogEndOffset(); got < keep {
		t.Fatalf("Truncate(%d) with one failed read: %v; after a reopen the log ends at %d: kept batches were cut", keep, err, got)
	}
	fx.checkPrefix(t, l2, segs[2]) // nothing of segs[1] was cut
	if !errors.Is(err, ErrLogOffline) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("truncate with EIO: %v, want ErrLogOffline wrapping EIO", err)
	}
	if got := calls.get(); len(got) != 1 {
		t.Fatalf("OnOffline calls %v, want one", got)
	}
}
