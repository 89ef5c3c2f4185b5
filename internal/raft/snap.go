package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/vfs"
)

// Snapshot files are snap-<index>.snap: a uint32 length, a uint32 CRC32C
// (both little endian) and a marshalled raftpb.Snapshot whose Data is the
// application's state bytes. They are written atomically: to a .tmp file,
// synced, renamed, and the directory synced.

func snapName(index uint64) string { return fmt.Sprintf("snap-%016x.snap", index) }

func parseSnapName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, "snap-") || !strings.HasSuffix(name, ".snap") {
		return 0, false
	}
	idx, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "snap-"), ".snap"), 16, 64)
	return idx, err == nil
}

// writeSnapshot stores snap durably under its index.
func writeSnapshot(fs vfs.FS, dir string, snap *raftpb.Snapshot) error {
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	buf := make([]byte, 8, 8+len(b))
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(b)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(b, crcTable))
	buf = append(buf, b...)

	name := fs.PathJoin(dir, snapName(snap.GetMetadata().GetIndex()))
	tmp := name + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("write snapshot %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync snapshot %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close snapshot %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename snapshot: %w", err)
	}
	return syncDir(fs, dir)
}

// readSnapshot loads the snapshot file for index.
func readSnapshot(fs vfs.FS, dir string, index uint64) (*raftpb.Snapshot, error) {
	name := fs.PathJoin(dir, snapName(index))
	f, err := fs.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: open snapshot %d: %w", ErrCorrupt, index, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("size %s: %w", name, err)
	}
	if size < 8 || size > maxRecord+8 {
		return nil, fmt.Errorf("%w: snapshot %s has %d bytes", ErrCorrupt, name, size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	n := binary.LittleEndian.Uint32(buf[0:4])
	if int64(n) != size-8 || crc32.Checksum(buf[8:], crcTable) != binary.LittleEndian.Uint32(buf[4:8]) {
		return nil, fmt.Errorf("%w: snapshot %s fails its checksum", ErrCorrupt, name)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(buf[8:], snap); err != nil {
		return nil, fmt.Errorf("%w: decode snapshot %s: %w", ErrCorrupt, name, err)
	}
	if snap.GetMetadata().GetIndex() != index {
		return nil, fmt.Errorf("%w: snapshot %s holds index %d", ErrCorrupt, name, snap.GetMetadata().GetIndex())
	}
	return snap, nil
}

// removeSnapshotsExcept deletes every snapshot file and leftover .tmp file in
// dir except the one for keep. Removal needs no directory sync: a file that
// comes back after a crash is removed again on the next open.
func removeSnapshotsExcept(fs vfs.FS, dir string, keep uint64) error {
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, n := range names {
		idx, ok := parseSnapName(n)
		if (ok && idx != keep) || strings.HasSuffix(n, ".snap.tmp") {
			if err := fs.Remove(fs.PathJoin(dir, n)); err != nil {
				return fmt.Errorf("remove %s: %w", n, err)
			}
		}
	}
	return nil
}
