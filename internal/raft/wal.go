package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/vfs"
)

// WAL record framing (little endian):
//
//	length  uint32  bytes of type+payload
//	crc     uint32  CRC32C of type+payload
//	type    byte    recEntry, recHardState or recBase
//	payload []byte
//
// recEntry holds a marshalled raftpb.Entry: an entry at index i replaces the
// entry at i and discards every later one (raft's append rule).
// recHardState holds a marshalled raftpb.HardState; the last one wins.
// recBase holds (index, term) of a snapshot: it empties the log, which now
// starts after index. The snapshot file with that index must exist.
const (
	recEntry     byte = 1
	recHardState byte = 2
	recBase      byte = 3

	frameHeader = 8
	// maxRecord bounds one record; a larger length on disk is a torn or
	// corrupt header, never an allocation.
	maxRecord = 256 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt reports damaged state in the raft directory that is not a torn
// tail (which is repaired silently).
var ErrCorrupt = errors.New("raft: corrupt storage")

// walState is what replaying the WAL yields.
type walState struct {
	baseIndex, baseTerm uint64
	entries             []*raftpb.Entry // consecutive, starting at baseIndex+1
	hs                  *raftpb.HardState
}

// wal is the append-only write-ahead log of one raft node: a sequence of
// segment files wal-<seq>.log in dir. It is owned by the node's goroutine.
type wal struct {
	fs     vfs.FS
	dir    string
	seq    uint64   // sequence number of the segment being written
	f      vfs.File // the segment being written
	size   int64
	buf    []byte // reused encode buffer
	dirty  bool   // written since the last sync
	logger *slog.Logger
}

func segmentName(seq uint64) string { return fmt.Sprintf("wal-%016x.log", seq) }

func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, "wal-") || !strings.HasSuffix(name, ".log") {
		return 0, false
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "wal-"), ".log"), 16, 64)
	return seq, err == nil
}

// listSegments returns the sequence numbers of the segments in dir, ascending.
func listSegments(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var seqs []uint64
	for _, n := range names {
		if seq, ok := parseSegmentName(n); ok {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// openWAL replays every segment of dir into a walState and opens the last
// segment for appending (creating the first one if there is none). A torn
// tail of the last segment is truncated away; damage anywhere else is
// ErrCorrupt.
func openWAL(fs vfs.FS, dir string, logger *slog.Logger) (*wal, *walState, error) {
	seqs, err := listSegments(fs, dir)
	if err != nil {
		return nil, nil, err
	}
	w := &wal{fs: fs, dir: dir, logger: logger}
	st := &walState{}
	if len(seqs) == 0 {
		w.seq = 1
		if w.f, err = fs.Create(fs.PathJoin(dir, segmentName(1))); err != nil {
			return nil, nil, fmt.Errorf("create wal segment: %w", err)
		}
		if err := syncDir(fs, dir); err != nil {
			w.f.Close()
			return nil, nil, err
		}
		return w, st, nil
	}
	for i, seq := range seqs {
		last := i == len(seqs)-1
		name := fs.PathJoin(dir, segmentName(seq))
		var f vfs.File
		if last {
			f, err = fs.OpenAppend(name)
		} else {
			f, err = fs.Open(name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open wal segment: %w", err)
		}
		good, size, err := replaySegment(f, st)
		if err == nil && good != size {
			if !last {
				err = fmt.Errorf("%w: wal segment %s: bad record at offset %d of %d", ErrCorrupt, name, good, size)
			} else {
				logger.Warn("raft: truncating torn wal tail", "segment", name, "offset", good, "dropped", size-good)
				if err = f.Truncate(good); err == nil {
					err = f.Sync()
				}
			}
		}
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if !last {
			if err := f.Close(); err != nil {
				return nil, nil, fmt.Errorf("close %s: %w", name, err)
			}
			continue
		}
		w.seq, w.f, w.size = seq, f, good
	}
	return w, st, nil
}

// replaySegment applies the records of f to st. It returns the offset just
// past the last good record and the file size.
func replaySegment(f vfs.File, st *walState) (good, size int64, err error) {
	size, err = f.Size()
	if err != nil {
		return 0, 0, fmt.Errorf("size: %w", err)
	}
	var hdr [frameHeader]byte
	var body []byte
	for good+frameHeader <= size {
		if _, err := f.ReadAt(hdr[:], good); err != nil {
			return 0, 0, fmt.Errorf("read wal: %w", err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		if n < 1 || n > maxRecord || good+frameHeader+n > size {
			break
		}
		if int64(cap(body)) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := f.ReadAt(body, good+frameHeader); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("read wal: %w", err)
		}
		if crc32.Checksum(body, crcTable) != sum {
			break
		}
		if err := st.apply(body[0], body[1:]); err != nil {
			// A checksummed record that does not decode or does not fit is
			// not a torn write: refuse to guess.
			return 0, 0, fmt.Errorf("%w: record at offset %d: %w", ErrCorrupt, good, err)
		}
		good += frameHeader + n
	}
	return good, size, nil
}

func (st *walState) apply(typ byte, payload []byte) error {
	switch typ {
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("decode entry: %w", err)
		}
		idx := e.GetIndex()
		switch {
		case idx <= st.baseIndex:
			// Already covered by the snapshot.
		case idx > st.baseIndex+uint64(len(st.entries))+1:
			return fmt.Errorf("entry %d leaves a gap after %d", idx, st.baseIndex+uint64(len(st.entries)))
		default:
			st.entries = append(st.entries[:idx-st.baseIndex-1], e)
		}
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("decode hard state: %w", err)
		}
		st.hs = hs
	case recBase:
		if len(payload) != 16 {
			return fmt.Errorf("base record of %d bytes", len(payload))
		}
		st.baseIndex = binary.LittleEndian.Uint64(payload[0:8])
		st.baseTerm = binary.LittleEndian.Uint64(payload[8:16])
		st.entries = nil
	default:
		return fmt.Errorf("unknown record type %d", typ)
	}
	return nil
}

// appendRecord frames payload (produced by enc into the reuse buffer).
func (w *wal) appendRecord(typ byte, enc func(dst []byte) ([]byte, error)) error {
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	var err error
	w.buf, err = enc(w.buf)
	if err != nil {
		w.buf = w.buf[:start]
		return err
	}
	body := w.buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(w.buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(w.buf[start+4:], crc32.Checksum(body, crcTable))
	return nil
}

func marshalAppend(m proto.Message) func([]byte) ([]byte, error) {
	return func(dst []byte) ([]byte, error) {
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
}

func baseAppend(index, term uint64) func([]byte) ([]byte, error) {
	return func(dst []byte) ([]byte, error) {
		dst = binary.LittleEndian.AppendUint64(dst, index)
		return binary.LittleEndian.AppendUint64(dst, term), nil
	}
}

// encode adds records to the pending buffer; flush writes them.
func (w *wal) encodeBase(index, term uint64) error {
	return w.appendRecord(recBase, baseAppend(index, term))
}

func (w *wal) encodeEntries(ents []*raftpb.Entry) error {
	for _, e := range ents {
		if err := w.appendRecord(recEntry, marshalAppend(e)); err != nil {
			return fmt.Errorf("encode entry %d: %w", e.GetIndex(), err)
		}
	}
	return nil
}

func (w *wal) encodeHardState(hs *raftpb.HardState) error {
	if err := w.appendRecord(recHardState, marshalAppend(hs)); err != nil {
		return fmt.Errorf("encode hard state: %w", err)
	}
	return nil
}

// flush writes the pending records and, if sync, makes everything durable.
func (w *wal) flush(sync bool) error {
	if len(w.buf) > 0 {
		n, err := w.f.Write(w.buf)
		w.size += int64(n)
		w.buf = w.buf[:0]
		w.dirty = true
		if err != nil {
			return fmt.Errorf("write wal segment %d: %w", w.seq, err)
		}
	}
	if sync && w.dirty {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync wal segment %d: %w", w.seq, err)
		}
		w.dirty = false
	}
	return nil
}

// rewrite starts a new segment holding only base (the snapshot the log now
// starts after), hs and ents, makes it durable, then deletes the older
// segments. A crash at any point leaves a replayable directory: the new
// segment is either absent or complete, and replaying old segments before it
// yields the same state because recBase resets the log.
func (w *wal) rewrite(baseIndex, baseTerm uint64, hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if err := w.flush(true); err != nil {
		return err
	}
	seq := w.seq + 1
	name := w.fs.PathJoin(w.dir, segmentName(seq))
	f, err := w.fs.Create(name)
	if err != nil {
		return fmt.Errorf("create wal segment: %w", err)
	}
	old := w.f
	oldSeq := w.seq
	w.f, w.seq, w.size = f, seq, 0
	if err := w.encodeBase(baseIndex, baseTerm); err != nil {
		return err
	}
	if hs != nil {
		if err := w.encodeHardState(hs); err != nil {
			return err
		}
	}
	if err := w.encodeEntries(ents); err != nil {
		return err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	if err := syncDir(w.fs, w.dir); err != nil {
		return err
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("close wal segment %d: %w", oldSeq, err)
	}
	seqs, err := listSegments(w.fs, w.dir)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s < seq {
			if err := w.fs.Remove(w.fs.PathJoin(w.dir, segmentName(s))); err != nil {
				return fmt.Errorf("remove wal segment %d: %w", s, err)
			}
		}
	}
	return syncDir(w.fs, w.dir)
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}
