package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"

	"github.com/kavka-io/kavka/internal/record"
)

// Producer-state snapshot files: "<20-digit offset>.snapshot", the state of
// every producer after all batches below offset. Kavka's format (Kafka's
// version 1 keeps only each producer's last batch; version 2 keeps all five
// so that retries stay deduplicated across a restart):
//
//	version int16 (2) | crc uint32 (CRC32C of the rest) | count int32 |
//	count × { producerId int64 | epoch int16 | lastTimestamp int64 |
//	          coordinatorEpoch int32 | txnFirstOffset int64 | batches int8 |
//	          batches × { firstSeq int32 | lastSeq int32 | firstOffset int64 |
//	                      lastOffset int64 | timestamp int64 } }
//
// Snapshots are written atomically (tmp, fsync, rename, fsync dir).
const (
	snapshotSuffix  = ".snapshot"
	snapshotVersion = 2
	snapshotsKept   = 2
	producerFixed   = 8 + 2 + 8 + 4 + 8 + 1
	batchMetaSize   = 4 + 4 + 8 + 8 + 8
)

var errBadSnapshot = errors.New("commitlog: bad producer snapshot")

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

func parseOffsetFile(name, suffix string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, suffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// encodeSnapshot encodes producers in id order.
func encodeSnapshot(producers map[int64]*producerEntry) []byte {
	ids := make([]int64, 0, len(producers))
	for id := range producers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, 10, 10+len(ids)*(producerFixed+maxBatchesPerProducer*batchMetaSize))
	binary.BigEndian.PutUint16(b, snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		e := producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(e.id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirstOffset))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoliTable))
	return b
}

// decodeSnapshot decodes a snapshot; any inconsistency is errBadSnapshot.
func decodeSnapshot(b []byte) (map[int64]*producerEntry, error) {
	if len(b) < 10 {
		return nil, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if crc := crc32.Checksum(b[6:], castagnoliTable); crc != binary.BigEndian.Uint32(b[2:]) {
		return nil, fmt.Errorf("%w: crc mismatch", errBadSnapshot)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[6:])))
	rest := b[10:]
	if n < 0 || n*producerFixed > int64(len(rest)) {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, n, len(rest))
	}
	out := make(map[int64]*producerEntry, n)
	for i := int64(0); i < n; i++ {
		if len(rest) < producerFixed {
			return nil, fmt.Errorf("%w: truncated", errBadSnapshot)
		}
		e := &producerEntry{
			id:               int64(binary.BigEndian.Uint64(rest)),
			epoch:            int16(binary.BigEndian.Uint16(rest[8:])),
			lastTimestamp:    int64(binary.BigEndian.Uint64(rest[10:])),
			coordinatorEpoch: int32(binary.BigEndian.Uint32(rest[18:])),
			txnFirstOffset:   int64(binary.BigEndian.Uint64(rest[22:])),
		}
		nb := int(rest[30])
		rest = rest[producerFixed:]
		if nb > maxBatchesPerProducer || len(rest) < nb*batchMetaSize {
			return nil, fmt.Errorf("%w: producer %d with %d batches", errBadSnapshot, e.id, nb)
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
				timestamp:   int64(binary.BigEndian.Uint64(rest[24:])),
			})
			rest = rest[batchMetaSize:]
		}
		out[e.id] = e
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	return out, nil
}

// writeProducerSnapshotLocked writes the snapshot at offset and removes
// older snapshots beyond the newest snapshotsKept, and index files of
// segments gone. A failure is logged: the state can always be rebuilt from
// the log. l.ps.mu must be held.
func (l *Log) writeProducerSnapshotLocked(offset int64) {
	name := l.fs.PathJoin(l.dir, segmentName(offset)+snapshotSuffix)
	if err := writeFileAtomic(l.fs, name, encodeSnapshot(l.ps.producers), true); err != nil {
		l.logger.Warn("write producer snapshot", "offset", offset, "err", err)
		return
	}
	l.pruneProducerFilesLocked(offset)
}

// pruneProducerFilesLocked removes snapshots other than the newest kept
// ones at or below upTo and the aborted-transaction indexes (and entries) of
// segments below the log start. l.ps.mu must be held.
func (l *Log) pruneProducerFilesLocked(upTo int64) {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return
	}
	var snaps []int64
	for _, n := range names {
		if off, ok := parseOffsetFile(n, snapshotSuffix); ok && off <= upTo {
			snaps = append(snaps, off)
		}
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] > snaps[j] })
	for i := snapshotsKept; i < len(snaps); i++ {
		_ = l.fs.Remove(l.fs.PathJoin(l.dir, segmentName(snaps[i])+snapshotSuffix))
	}
	bases, first := l.segmentBases()
	for _, n := range names {
		if base, ok := parseOffsetFile(n, txnIndexSuffix); ok && !bases[base] {
			_ = l.fs.Remove(l.fs.PathJoin(l.dir, n))
		}
	}
	kept := l.ps.aborted[:0]
	for _, a := range l.ps.aborted {
		if bases[a.seg] || a.seg >= first {
			kept = append(kept, a)
		}
	}
	l.ps.aborted = kept
}

// segmentBases returns the set of segment bases and the first one.
func (l *Log) segmentBases() (map[int64]bool, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := make(map[int64]bool, len(l.segs))
	for _, seg := range l.segs {
		s[seg.base] = true
	}
	return s, l.segs[0].base
}

// loadProducerStateLocked rebuilds the state once. l.ps.mu must be held.
func (l *Log) loadProducerStateLocked() error {
	ps := &l.ps
	if ps.loaded {
		return nil
	}
	leo := l.LogEndOffset()
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.dir, err)
	}
	// Newest usable snapshot at or below the log end; later ones describe
	// data a crash lost.
	var snaps []int64
	for _, n := range names {
		if off, ok := parseOffsetFile(n, snapshotSuffix); ok {
			snaps = append(snaps, off)
		}
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] > snaps[j] })
	from := l.LogStartOffset()
	ps.producers = nil
	l.held.clear() // the replay below holds what is still unreplicated
	removed := false
	loadedAt := int64(-1) // offset of the snapshot loaded
	for _, off := range snaps {
		name := l.fs.PathJoin(l.dir, segmentName(off)+snapshotSuffix)
		if off > leo {
			_ = l.fs.Remove(name)
			removed = true
			continue
		}
		if ps.producers != nil {
			continue
		}
		b, err := readWholeFile(l.fs, name)
		if err == nil {
			ps.producers, err = decodeSnapshot(b)
		}
		if err != nil {
			l.logger.Warn("producer snapshot unusable, removed", "file", name, "err", err)
			_ = l.fs.Remove(name)
			removed = true
			continue
		}
		from = max(off, from)
		loadedAt = off
	}
	if removed {
		// A snapshot above the log end must stay gone once new data is
		// appended past its offset, or a later load would trust it.
		if err := syncDir(l.fs, l.dir); err != nil {
			ps.producers = nil
			return err
		}
	}
	if ps.producers == nil {
		ps.producers = make(map[int64]*producerEntry)
	}
	// Aborted transactions: indexes for what precedes the snapshot; the
	// scan below re-adds the rest.
	bases, first := l.segmentBases()
	ps.aborted = ps.aborted[:0]
	// Indexes holding entries at or after the replay start are rewritten
	// from memory below: the replay re-adds the entries still in the log,
	// and entries of truncated batches (a follower's divergence, or a
	// crash that lost the tail) must not come back once the log grows
	// past them again.
	stale := map[int64]bool{}
	for _, n := range names {
		base, ok := parseOffsetFile(n, txnIndexSuffix)
		if !ok {
			continue
		}
		p := l.fs.PathJoin(l.dir, n)
		if !bases[base] && base < first {
			_ = l.fs.Remove(p)
			continue
		}
		b, err := readWholeFile(l.fs, p)
		if err != nil {
			ps.producers, ps.aborted = nil, nil
			return fmt.Errorf("read %s: %w", p, err)
		}
		for _, a := range decodeTxnIndex(b) {
			if a.LastOffset < from {
				ps.aborted = append(ps.aborted, abortedEntry{AbortedTxn: a, seg: base})
			} else {
				stale[base] = true
			}
		}
	}
	sortAborted(ps.aborted)
	touched, err := l.replayProducerStateLocked(from, leo)
	if err != nil {
		ps.producers, ps.aborted = nil, nil
		return fmt.Errorf("rebuild producer state of %s: %w", l.dir, err)
	}
	for seg := range stale {
		touched[seg] = true
	}
	for seg := range touched {
		if err := l.writeTxnIndexLocked(seg); err != nil {
			return err
		}
	}
	ps.loaded = true
	ps.lastExpired = l.nowMs()
	l.SetLastStableOffset(l.lsoFromStateLocked())
	if loadedAt != leo {
		// A snapshot at the log end is the state just loaded: writing it
		// again (tmp, fsync, rename, directory fsync) cost ~4 ms per log,
		// 40 s of a restart with 10,000 partitions.
		l.writeProducerSnapshotLocked(leo)
	}
	ps.snapBase = l.activeBase()
	return nil
}

// replayProducerStateLocked applies the batches in [from, to) to the state
// and returns the segments whose aborted-transaction index gained entries.
func (l *Log) replayProducerStateLocked(from, to int64) (map[int64]bool, error) {
	ps := &l.ps
	touched := map[int64]bool{}
	off := from
	var buf []byte
	for off < to {
		s, err := l.Read(off, 1<<20, to, true)
		if err != nil {
			return nil, err
		}
		buf, err = s.ReadAll(buf[:0])
		s.Release()
		if err != nil {
			return nil, err
		}
		if len(buf) == 0 {
			break // a gap the cleaner left at the end of the log
		}
		next := off
		it := record.NewBatches(buf)
		for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
			next = h.NextOffset()
			if h.ProducerID < 0 || h.LastOffset() < from {
				continue
			}
			if !h.Control() {
				ps.applyBatch(&h)
				continue
			}
			commit, ce, ok := parseMarker(batch)
			if !ok {
				continue
			}
			lso := l.lsoFromStateLocked()
			l.holdLocked(h.ProducerID, h.BaseOffset)
			if a, ok := ps.applyMarker(h.ProducerID, h.ProducerEpoch, commit, ce, h.BaseOffset, h.MaxTimestamp); ok {
				a.LastStableOffset = lso
				seg := l.segmentBaseFor(h.BaseOffset)
				ps.aborted = append(ps.aborted, abortedEntry{AbortedTxn: a, seg: seg})
				touched[seg] = true
			}
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if next <= off {
			break
		}
		off = next
	}
	sortAborted(ps.aborted)
	return touched, nil
}

// segmentBaseFor returns the base of the segment holding offset.
func (l *Log) segmentBaseFor(offset int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[l.segmentForLocked(offset)].base
}

// parseMarker decodes a control batch's transaction marker: whether it
// commits, and the coordinator epoch. ok is false for a batch without
// records (the cleaner's) or with another control type.
func parseMarker(batch []byte) (commit bool, coordinatorEpoch int32, ok bool) {
	recs, err := record.DecodeRecords(batch, 1<<20)
	if err != nil || len(recs) == 0 {
		return false, 0, false
	}
	typ, err := record.ParseControlRecord(recs[0].Key)
	if err != nil || (typ != record.ControlCommit && typ != record.ControlAbort) {
		return false, 0, false
	}
	ce, _ := record.ParseMarkerValue(recs[0].Value)
	return typ == record.ControlCommit, ce, true
}

// resetProducerStateLocked rebuilds the producer state after a truncation:
// it removes the snapshots keep refuses (those above the new log end, which
// describe batches that are gone), makes the removal durable before any new
// batch can reach their offsets, and reloads from the newest snapshot left
// plus the log after it. Mirrors ProducerStateManager.truncateAndReload
// followed by UnifiedLog.rebuildProducerState. l.ps.mu must be held.
func (l *Log) resetProducerStateLocked(keep func(offset int64) bool) error {
	ps := &l.ps
	ps.loaded = false
	ps.producers, ps.aborted = nil, nil
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.dir, err)
	}
	removed := false
	for _, n := range names {
		if off, ok := parseOffsetFile(n, snapshotSuffix); ok && !keep(off) {
			if err := l.fs.Remove(l.fs.PathJoin(l.dir, n)); err != nil && !isNotExist(err) {
				return l.goOffline(fmt.Errorf("remove producer snapshot %s: %w", n, err))
			}
			removed = true
		}
	}
	if removed {
		if err := syncDir(l.fs, l.dir); err != nil {
			return l.goOffline(err)
		}
	}
	return l.loadProducerStateLocked()
}
