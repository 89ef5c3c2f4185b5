package commitlog

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// The aborted-transactions index of a segment, "<base>.txnindex", in
// Kafka's format (kafka.log.TransactionIndex): 34-byte entries, each
//
//	version int16 (0) | producerId int64 | firstOffset int64 |
//	lastOffset int64 | lastStableOffset int64
//
// An entry belongs to the segment that holds the abort marker (its
// lastOffset). The file is rewritten whole, atomically, when an entry is
// added (aborts are rare); it is fsynced before any later producer
// snapshot, because a snapshot ends the replay that would rebuild it.
const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
)

// abortedEntry is an AbortedTxn and the segment whose index holds it.
type abortedEntry struct {
	AbortedTxn
	seg int64
}

func sortAborted(a []abortedEntry) {
	sort.SliceStable(a, func(i, j int) bool { return a[i].LastOffset < a[j].LastOffset })
}

func encodeTxnIndex(dst []byte, a AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(a.LastStableOffset))
}

// decodeTxnIndex decodes the whole entries of b; a torn last entry, an
// unknown version or an inconsistent entry ends the index there.
func decodeTxnIndex(b []byte) []AbortedTxn {
	var out []AbortedTxn
	for len(b) >= txnIndexEntrySize {
		if binary.BigEndian.Uint16(b) != 0 {
			break
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if a.FirstOffset < 0 || a.LastOffset < a.FirstOffset {
			break
		}
		out = append(out, a)
		b = b[txnIndexEntrySize:]
	}
	return out
}

// addAbortedLocked records an aborted transaction whose marker was just
// appended and rewrites its segment's index. l.ps.mu must be held.
func (l *Log) addAbortedLocked(a AbortedTxn) error {
	seg := l.segmentBaseFor(a.LastOffset)
	l.ps.aborted = append(l.ps.aborted, abortedEntry{AbortedTxn: a, seg: seg})
	sortAborted(l.ps.aborted)
	return l.writeTxnIndexLocked(seg)
}

// writeTxnIndexLocked rewrites the index of segment seg from memory, or
// removes it when it has no entry left (after a truncation).
// l.ps.mu must be held.
func (l *Log) writeTxnIndexLocked(seg int64) error {
	var b []byte
	for _, a := range l.ps.aborted {
		if a.seg == seg {
			b = encodeTxnIndex(b, a.AbortedTxn)
		}
	}
	name := l.fs.PathJoin(l.dir, segmentName(seg)+txnIndexSuffix)
	if len(b) == 0 {
		if err := l.fs.Remove(name); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove transaction index: %w", err)
		}
		if err := syncDirOf(l.fs, name); err != nil {
			return fmt.Errorf("remove transaction index: %w", err)
		}
		return nil
	}
	if err := writeFileAtomic(l.fs, name, b, true); err != nil {
		return fmt.Errorf("write transaction index: %w", err)
	}
	return nil
}
