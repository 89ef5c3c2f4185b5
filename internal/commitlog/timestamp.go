package commitlog

import (
	"fmt"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// OffsetForTimestamp returns the first offset whose record timestamp is >=
// ts, and that timestamp (ListOffsets by time). ok is false when no record
// qualifies. The segment is found by its largest timestamp, the starting
// position through the .timeindex and .index, and the record by decoding
// the first batch whose max timestamp qualifies. Mirrors
// kafka.log.LogSegment.findOffsetByTimestamp.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, false
	}
	for _, seg := range l.segs {
		if seg.size == 0 {
			continue
		}
		if err := seg.ensureIndexes(seg.size, l.cfg.IndexIntervalBytes); err != nil {
			l.logger.Warn("load segment index", "segment", segmentName(seg.base), "err", err)
			continue
		}
		seg.imu.Lock()
		maxTs := seg.maxTs
		startRel := int64(0)
		if rel, ok := lookupTime(seg.tidx, ts); ok {
			startRel = int64(rel)
		}
		pos := lookupOffset(seg.idx, startRel)
		seg.imu.Unlock()
		if maxTs < ts {
			continue
		}
		off, t, found, err := l.findTimestampIn(seg, pos, ts)
		if err != nil {
			l.logger.Warn("search segment by timestamp", "segment", segmentName(seg.base), "err", err)
			return -1, -1, false
		}
		if found {
			return off, t, true
		}
	}
	return -1, -1, false
}

// findTimestampIn scans seg from pos for the first record at or after the
// log start offset with a timestamp >= ts. l.mu must be held (read).
func (l *Log) findTimestampIn(seg *segment, pos, ts int64) (int64, int64, bool, error) {
	f, err := seg.acquire()
	if err != nil {
		return 0, 0, false, err
	}
	defer seg.release()
	var hb [record.HeaderSize]byte
	for pos < seg.size {
		h, err := readHeaderAt(f, pos, seg.size, hb[:])
		if err != nil {
			return 0, 0, false, nil
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= l.logStart && !h.Control() {
			if h.LogAppendTime() {
				return max(h.BaseOffset, l.logStart), h.MaxTimestamp, true, nil
			}
			recs, rh, err := readRecords(f, pos, &h)
			if err != nil {
				return 0, 0, false, err
			}
			for i := range recs {
				off := rh.BaseOffset + int64(recs[i].OffsetDelta)
				if t := rh.RecordTimestamp(&recs[i]); t >= ts && off >= l.logStart {
					return off, t, true, nil
				}
			}
		}
		pos += int64(h.Size())
	}
	return 0, 0, false, nil
}

// maxDecoded bounds the decompressed size of one batch read for a lookup.
const maxDecoded = 64 << 20

// readRecords reads and decodes the whole batch at pos.
func readRecords(f vfs.File, pos int64, h *record.Header) ([]record.Record, *record.Header, error) {
	b := make([]byte, h.Size())
	if n, err := f.ReadAt(b, pos); n < len(b) {
		return nil, nil, fmt.Errorf("read batch at %d: %w", pos, err)
	}
	recs, err := record.DecodeRecords(b, maxDecoded)
	if err != nil {
		return nil, nil, fmt.Errorf("decode batch at %d: %w", pos, err)
	}
	return recs, h, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the record carrying it (ListOffsets -3, KIP-734); (-1, -1) for an empty
// log.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	offset, timestamp = -1, -1
	var best *segment
	for _, seg := range l.segs {
		if seg.size == 0 || seg.ensureIndexes(seg.size, l.cfg.IndexIntervalBytes) != nil {
			continue
		}
		seg.imu.Lock()
		if seg.maxTs > timestamp {
			timestamp, offset, best = seg.maxTs, seg.maxTsOff, seg
		}
		seg.imu.Unlock()
	}
	if best == nil {
		return -1, -1
	}
	// maxTsOff is the last offset of the batch; find the record itself.
	if off, ok := l.recordWithTimestamp(best, offset, timestamp); ok {
		offset = off
	}
	return offset, timestamp
}

// recordWithTimestamp finds, in the batch of seg ending at lastOffset, the
// offset of the first record with timestamp ts. l.mu must be held (read).
func (l *Log) recordWithTimestamp(seg *segment, lastOffset, ts int64) (int64, bool) {
	f, err := seg.acquire()
	if err != nil {
		return 0, false
	}
	defer seg.release()
	seg.imu.Lock()
	pos := lookupOffset(seg.idx, lastOffset-seg.base)
	seg.imu.Unlock()
	var hb [record.HeaderSize]byte
	for pos < seg.size {
		h, err := readHeaderAt(f, pos, seg.size, hb[:])
		if err != nil || h.BaseOffset > lastOffset {
			return 0, false
		}
		if h.LastOffset() == lastOffset {
			if h.LogAppendTime() {
				return h.BaseOffset, true
			}
			recs, rh, err := readRecords(f, pos, &h)
			if err != nil {
				return 0, false
			}
			for i := range recs {
				if rh.RecordTimestamp(&recs[i]) == ts {
					return rh.BaseOffset + int64(recs[i].OffsetDelta), true
				}
			}
			return 0, false
		}
		pos += int64(h.Size())
	}
	return 0, false
}
