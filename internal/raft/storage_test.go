package raft

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/vfs"
)

var bootCS = &raftpb.ConfState{Voters: []uint64{1, 2, 3}}

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: raftpb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// logView is the observable state of a storage.
type logView struct {
	snapIndex, snapTerm uint64
	snapData            string
	first, last         uint64
	terms               []uint64 // term of each entry in [first, last]
	data                []string
	term, vote, commit  uint64
}

func view(t *testing.T, s *storage) logView {
	t.Helper()
	var v logView
	snap, _ := s.MemoryStorage.Snapshot()
	v.snapIndex, v.snapTerm, v.snapData = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm(), string(snap.GetData())
	v.first, _ = s.FirstIndex()
	v.last, _ = s.LastIndex()
	if v.last >= v.first {
		ents, err := s.Entries(v.first, v.last+1, math.MaxUint64)
		if err != nil {
			t.Fatalf("Entries(%d, %d): %v", v.first, v.last+1, err)
		}
		for _, e := range ents {
			v.terms = append(v.terms, e.GetTerm())
			v.data = append(v.data, string(e.GetData()))
		}
	}
	hs, _, _ := s.InitialState()
	v.term, v.vote, v.commit = hs.GetTerm(), hs.GetVote(), hs.GetCommit()
	return v
}

// entriesFrom returns v's entries from index lo on (after reopening, the log
// starts after the snapshot; entries kept below it for catch-up are gone).
func (v logView) entriesFrom(lo uint64) ([]uint64, []string) {
	if lo < v.first {
		return nil, nil
	}
	i := lo - v.first
	if i > uint64(len(v.terms)) {
		return nil, nil
	}
	return v.terms[i:], v.data[i:]
}

func mustOpen(t *testing.T, fs vfs.FS) *storage {
	t.Helper()
	s, err := openStorage(fs, "/r", bootCS, discard)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestStorageBootstrapAndReopen(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, fs)
	v := view(t, s)
	if v.snapIndex != 1 || v.snapTerm != 1 || v.last != 1 || v.term != 1 || v.commit != 1 {
		t.Fatalf("bootstrapped state %+v", v)
	}
	check := func(step string, want logView) {
		t.Helper()
		s.close()
		fs = fs.CrashClone()
		s = mustOpen(t, fs)
		got := view(t, s)
		wt, wd := want.entriesFrom(got.snapIndex + 1)
		if got.snapIndex != want.snapIndex || got.snapData != want.snapData || got.last != want.last ||
			!slices.Equal(got.terms, wt) || !slices.Equal(got.data, wd) ||
			got.term != want.term || got.vote != want.vote || got.commit != want.commit {
			t.Fatalf("%s: after crash and reopen\n got %+v\nwant %+v", step, got, want)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.save(hardState(2, 1, 1), []*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b"), ent(4, 2, "c")}, nil, true))
	check("append", view(t, s))
	// A conflicting append replaces the tail.
	must(s.save(hardState(3, 2, 2), []*raftpb.Entry{ent(3, 3, "B"), ent(4, 3, "C"), ent(5, 3, "D")}, nil, true))
	check("overwrite", view(t, s))
	// Compaction keeps the snapshot and the entries after it.
	must(s.compact(4, bootCS, []byte("state@4"), 1))
	check("compact", view(t, s))
	// A snapshot from the leader replaces the whole log.
	snap := &raftpb.Snapshot{Data: []byte("leader@9"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(9), Term: proto.Uint64(4), ConfState: bootCS}}
	must(s.save(hardState(4, 0, 9), nil, snap, false))
	check("received snapshot", view(t, s))
	must(s.save(nil, []*raftpb.Entry{ent(10, 4, "x")}, nil, true))
	check("append after snapshot", view(t, s))
	if names, _ := fs.List("/r"); len(names) != 2 {
		t.Errorf("files after compaction: %v, want one snapshot and one segment", names)
	}
}

func TestStorageTornTailIsTruncated(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, fs)
	if err := s.save(hardState(2, 1, 2), []*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b")}, nil, true); err != nil {
		t.Fatal(err)
	}
	want := view(t, s)
	s.close()
	seg := "/r/" + segmentName(1)
	f := func(garbage []byte) {
		t.Helper()
		fs2 := fs.CrashClone()
		af, err := fs2.OpenAppend(seg)
		if err != nil {
			t.Fatal(err)
		}
		af.Write(garbage)
		af.Sync()
		af.Close()
		s := mustOpen(t, fs2)
		if got := view(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("garbage %x: got %+v, want %+v", garbage, got, want)
		}
		// Appends after the repaired tail survive the next crash.
		if err := s.save(nil, []*raftpb.Entry{ent(4, 2, "c")}, nil, true); err != nil {
			t.Fatal(err)
		}
		s.close()
		s = mustOpen(t, fs2.CrashClone())
		if got := view(t, s); got.last != 4 {
			t.Fatalf("garbage %x: after repair and append, last = %d, want 4", garbage, got.last)
		}
		s.close()
	}
	f([]byte{1})                                     // a partial header
	f([]byte{10, 0, 0, 0, 1, 2, 3, 4, 1})            // a header promising more than there is
	f([]byte{1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1}) // a full record with a bad checksum
	f([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})    // an absurd length
}

func TestStorageCorruptionBeforeTheTailIsAnError(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, fs)
	if err := s.save(hardState(2, 1, 2), []*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b")}, nil, true); err != nil {
		t.Fatal(err)
	}
	// A second segment, as after a compaction that crashed before removing
	// the first one.
	if err := s.wal.rewrite(1, 1, hardState(2, 1, 2), []*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b")}); err != nil {
		t.Fatal(err)
	}
	s.close()
	// Recreate an older segment with a flipped byte in its middle.
	old := "/r/" + segmentName(1)
	w, _ := fs.Create(old)
	good := []byte{}
	for _, e := range []*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b")} {
		ww := &wal{}
		ww.encodeEntries([]*raftpb.Entry{e})
		good = append(good, ww.buf...)
	}
	good[12] ^= 0x40
	w.Write(good)
	w.Sync()
	w.Close()
	if _, err := openStorage(fs, "/r", bootCS, discard); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a corrupt older segment: %v, want ErrCorrupt", err)
	}
}

// TestStorageCrashSeeds runs random histories of appends, overwrites, hard
// states, compactions and received snapshots, crashing (dropping or tearing
// unsynced writes) at random points: what was synced always comes back.
func TestStorageCrashSeeds(t *testing.T) {
	seeds := 300
	if *flagSeed != 0 {
		seeds = 1
	}
	for i := range seeds {
		seed := uint64(i + 1)
		if *flagSeed != 0 {
			seed = *flagSeed
		}
		rng := rand.New(rand.NewPCG(seed, 2))
		fs := vfs.NewMem()
		s := mustOpen(t, fs)
		durable := view(t, s)
		term, commit := uint64(1), uint64(1)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (replay with -raft.seed=%d): "+format, append([]any{seed, seed}, args...)...)
		}
		for op := 0; op < 60; op++ {
			v := view(t, s)
			var err error
			synced := true
			switch k := rng.IntN(10); {
			case k < 5: // append, sometimes overwriting the uncommitted tail
				from := v.last + 1
				if rng.IntN(3) == 0 && from > commit+1 {
					from = commit + 1 + rng.Uint64N(from-commit-1)
				}
				if rng.IntN(4) == 0 {
					term++
				}
				var ents []*raftpb.Entry
				for j := range 1 + rng.IntN(5) {
					ents = append(ents, ent(from+uint64(j), term, fmt.Sprintf("s%d-op%d-%d", seed, op, j)))
				}
				err = s.save(hardState(term, 1, commit), ents, nil, true)
			case k < 7: // commit advances: written, not synced
				last := v.last
				if last > commit {
					commit += 1 + rng.Uint64N(last-commit)
				}
				err = s.save(hardState(term, v.vote, commit), nil, nil, false)
				synced = false
			case k < 9: // compaction at the commit index
				if commit > v.snapIndex && commit >= v.first {
					err = s.compact(commit, bootCS, fmt.Appendf(nil, "app@%d", commit), rng.Uint64N(4))
				}
			default: // a snapshot from the leader, ahead of the log
				idx := v.last + 1 + rng.Uint64N(5)
				term++
				commit = idx
				snap := &raftpb.Snapshot{Data: fmt.Appendf(nil, "leader@%d", idx), Metadata: &raftpb.SnapshotMetadata{
					Index: proto.Uint64(idx), Term: proto.Uint64(term), ConfState: bootCS}}
				err = s.save(hardState(term, 0, commit), nil, snap, false)
			}
			if err != nil {
				fail("op %d: %v", op, err)
			}
			if synced {
				// Everything written so far is durable (a commit-only hard
				// state is the only unsynced write).
				durable = view(t, s)
			}
			if rng.IntN(8) != 0 {
				continue
			}
			s.close()
			var crashed *vfs.MemFS
			if rng.IntN(2) == 0 {
				crashed = fs.CrashCloneTorn(rng)
			} else {
				crashed = fs.CrashClone()
			}
			fs = crashed
			s = mustOpen(t, fs)
			got := view(t, s)
			wt, wd := durable.entriesFrom(got.snapIndex + 1)
			if got.snapIndex < durable.snapIndex || got.last != durable.last || got.term != durable.term || got.vote != durable.vote ||
				!slices.Equal(got.terms, wt) || !slices.Equal(got.data, wd) {
				fail("op %d: after crash\n got %+v\nwant %+v", op, got, durable)
			}
			if got.commit < durable.commit || got.commit > commit {
				fail("op %d: commit %d after crash, durable %d, last written %d", op, got.commit, durable.commit, commit)
			}
			commit = max(got.commit, got.snapIndex)
			durable = got
		}
		s.close()
	}
}

func TestStorageSyncFailureIsReported(t *testing.T) {
	fail := false
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if fail && op == vfs.OpSync {
			return vfs.Fault{Err: syscall.EIO}
		}
		return vfs.Fault{}
	}))
	s := mustOpen(t, fs)
	fail = true
	err := s.save(hardState(2, 1, 1), []*raftpb.Entry{ent(2, 2, "a")}, nil, true)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("save with failing fsync: %v, want EIO", err)
	}
	if last, _ := s.LastIndex(); last != 1 {
		t.Fatalf("entries reached raft's storage (last %d) although fsync failed", last)
	}
	s.close()
}
