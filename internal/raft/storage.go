package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/vfs"
)

// storage is the node's durable state: the WAL, the latest snapshot file, and
// a raft.MemoryStorage rebuilt from both on open that serves raft's reads.
// It is owned by the node's goroutine.
type storage struct {
	*raft.MemoryStorage
	fs     vfs.FS
	dir    string
	wal    *wal
	snap   *raftpb.Snapshot // the snapshot the log starts after (nil: none)
	logger *slog.Logger
}

// openStorage opens (or creates) the raft directory. If it holds no state
// and boot is not nil, it is bootstrapped with a snapshot at index 1, term 1
// holding boot as the configuration and empty application data, which every
// member of the initial configuration writes identically.
func openStorage(fs vfs.FS, dir string, boot *raftpb.ConfState, logger *slog.Logger) (*storage, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := syncDir(fs, filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, err
	}
	w, st, err := openWAL(fs, dir, logger)
	if err != nil {
		return nil, err
	}
	s := &storage{MemoryStorage: raft.NewMemoryStorage(), fs: fs, dir: dir, wal: w, logger: logger}
	if err := s.load(st, boot); err != nil {
		w.close()
		return nil, err
	}
	return s, nil
}

func (s *storage) load(st *walState, boot *raftpb.ConfState) error {
	empty := st.baseIndex == 0 && len(st.entries) == 0 && raft.IsEmptyHardState(st.hs)
	if empty && boot != nil {
		snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: boot}}
		if err := writeSnapshot(s.fs, s.dir, snap); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		hs := &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(1)}
		if err := s.wal.encodeBase(1, 1); err != nil {
			return err
		}
		if err := s.wal.encodeHardState(hs); err != nil {
			return err
		}
		if err := s.wal.flush(true); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		st = &walState{baseIndex: 1, baseTerm: 1, hs: hs}
	}
	if st.baseIndex > 0 {
		snap, err := readSnapshot(s.fs, s.dir, st.baseIndex)
		if err != nil {
			return err
		}
		if snap.GetMetadata().GetTerm() != st.baseTerm {
			return fmt.Errorf("%w: snapshot %d has term %d, wal says %d", ErrCorrupt, st.baseIndex, snap.GetMetadata().GetTerm(), st.baseTerm)
		}
		if err := s.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("load snapshot %d: %w", st.baseIndex, err)
		}
		s.snap = snap
	}
	if err := s.removeStaleSnapshots(); err != nil {
		return err
	}
	if len(st.entries) > 0 {
		if err := s.Append(st.entries); err != nil {
			return fmt.Errorf("load entries: %w", err)
		}
	}
	if st.hs != nil {
		last, _ := s.LastIndex()
		if st.hs.GetCommit() > last {
			return fmt.Errorf("%w: hard state commit %d beyond last index %d", ErrCorrupt, st.hs.GetCommit(), last)
		}
		if err := s.SetHardState(st.hs); err != nil {
			return fmt.Errorf("load hard state: %w", err)
		}
	}
	return nil
}

func (s *storage) removeStaleSnapshots() error {
	var keep uint64 = math.MaxUint64
	if s.snap != nil {
		keep = s.snap.GetMetadata().GetIndex()
	}
	return removeSnapshotsExcept(s.fs, s.dir, keep)
}

// save persists what one Ready asks for, in the order the contract needs:
// a snapshot file and its base record first, then entries, then the hard
// state; all of it synced if mustSync (or a snapshot came). Only then is the
// MemoryStorage updated.
func (s *storage) save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot, mustSync bool) error {
	hasSnap := !raft.IsEmptySnap(snap)
	if hasSnap {
		if err := writeSnapshot(s.fs, s.dir, snap); err != nil {
			return err
		}
		if err := s.wal.encodeBase(snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()); err != nil {
			return err
		}
	}
	if err := s.wal.encodeEntries(ents); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.wal.encodeHardState(hs); err != nil {
			return err
		}
	}
	if err := s.wal.flush(mustSync || hasSnap); err != nil {
		return err
	}
	if hasSnap {
		if err := s.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("apply snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
		}
		s.snap = snap
		if err := s.removeStaleSnapshots(); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		if err := s.Append(ents); err != nil {
			return fmt.Errorf("append entries: %w", err)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.SetHardState(hs); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
	}
	return nil
}

// compact stores a snapshot of the application state data taken at applied
// index (with configuration cs), rewrites the WAL to start after it, and
// drops in-memory entries up to applied-keep (the rest stay for slow
// followers until the next compaction).
func (s *storage) compact(applied uint64, cs *raftpb.ConfState, data []byte, keep uint64) error {
	if s.snap != nil && applied <= s.snap.GetMetadata().GetIndex() {
		return nil
	}
	snap, err := s.CreateSnapshot(applied, cs, data)
	if err != nil {
		return fmt.Errorf("create snapshot %d: %w", applied, err)
	}
	if err := writeSnapshot(s.fs, s.dir, snap); err != nil {
		return err
	}
	last, _ := s.LastIndex()
	var ents []*raftpb.Entry
	if last > applied {
		if ents, err = s.Entries(applied+1, last+1, math.MaxUint64); err != nil {
			return fmt.Errorf("read entries for wal rewrite: %w", err)
		}
	}
	hs, _, _ := s.InitialState()
	if err := s.wal.rewrite(applied, snap.GetMetadata().GetTerm(), hs, ents); err != nil {
		return err
	}
	s.snap = snap
	if err := s.removeStaleSnapshots(); err != nil {
		return err
	}
	if applied > keep {
		if err := s.Compact(applied - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("compact to %d: %w", applied-keep, err)
		}
	}
	return nil
}

func (s *storage) close() error { return s.wal.close() }
