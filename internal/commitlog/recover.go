package commitlog

import (
	"errors"
	iofs "io/fs"
	"math"
	"strconv"
	"strings"

	"fmt"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// parseLogDirName splits "<topic>-<partition>".
func parseLogDirName(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return name, 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return name, 0, false
	}
	return name[:i], int32(p), true
}

func logDirName(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

// mkdirAllDurable creates dir and its missing parents and fsyncs each
// parent whose entries changed, so the new directories survive a crash.
func mkdirAllDurable(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	var missing []string
	for d := dir; ; d = parentDir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if p := parentDir(d); p == d || len(missing) > 64 {
			break
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create dir %s: %w", dir, err)
	}
	for _, d := range missing {
		if err := syncDir(fs, parentDir(d)); err != nil {
			return err
		}
	}
	return nil
}

func lastElem(path string) string {
	path = strings.TrimRight(path, `/\`)
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

// load opens the segments and recovers the log. Mirrors
// kafka.log.LogLoader: leftover temporary files go, a cleaner swap left
// half-done is finished (a .swap file is complete) or discarded (a .cleaned
// file may not be), then the segments after the recovery point are
// checked batch by batch and the first bad batch ends the log; every later
// segment is deleted.
func (l *Log) load(st openState) error {
	fs := l.fs
	if err := mkdirAllDurable(fs, l.dir); err != nil {
		return err
	}
	names, err := fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("list dir: %w", err)
	}
	changed := false
	for _, name := range names {
		p := fs.PathJoin(l.dir, name)
		switch {
		case strings.HasSuffix(name, logSuffix+swapSuffix):
			// The cleaner finished writing and fsynced this segment; only the
			// final rename was missing. Its indexes are rebuilt.
			target := strings.TrimSuffix(p, swapSuffix)
			if err := fs.Rename(p, target); err != nil {
				return fmt.Errorf("finish swap %s: %w", name, err)
			}
			stem := strings.TrimSuffix(target, logSuffix)
			_ = fs.Remove(stem + indexSuffix)
			_ = fs.Remove(stem + timeIndexSuffix)
			changed = true
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, swapSuffix), strings.HasSuffix(name, ".tmp"):
			if err := fs.Remove(p); err != nil && !isNotExist(err) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
			changed = true
		}
	}
	if changed {
		if err := syncDir(fs, l.dir); err != nil {
			return err
		}
		if names, err = fs.List(l.dir); err != nil {
			return fmt.Errorf("list dir: %w", err)
		}
	}
	bases := map[int64]bool{}
	for _, name := range names {
		if base, ok := parseSegmentName(name); ok {
			bases[base] = true
		}
	}
	for _, name := range names {
		stem, ok := strings.CutSuffix(name, indexSuffix)
		if !ok {
			stem, ok = strings.CutSuffix(name, timeIndexSuffix)
		}
		if base, isSeg := parseSegmentName(stem + logSuffix); ok && isSeg && !bases[base] {
			_ = fs.Remove(fs.PathJoin(l.dir, name)) // orphaned index
		}
	}
	for _, name := range names {
		base, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		fi, err := fs.Stat(fs.PathJoin(l.dir, name))
		if err != nil {
			return fmt.Errorf("stat %s: %w", name, err)
		}
		s := newSegment(fs, l.dir, base, l.hc)
		s.size = fi.Size()
		l.segs = append(l.segs, s)
	}
	mark, hasMark, err := readCorruptMarker(fs, l.dir)
	if err != nil {
		return err
	}
	if !hasMark || !l.truncateCorrupt {
		mark = corruptMarker{base: -2} // recovery ignores it
	}
	now := l.nowMs()
	fresh := len(l.segs) == 0
	if fresh {
		base := max(st.logStart, 0)
		s := newSegment(fs, l.dir, base, l.hc)
		f, err := fs.Create(s.path(logSuffix))
		if err != nil {
			return fmt.Errorf("create segment: %w", err)
		}
		if err := syncDir(fs, l.dir); err != nil {
			f.Close()
			return err
		}
		s.next, s.loaded = base, true
		s.setWritable(f)
		l.segs = append(l.segs, s)
	} else if err := l.recoverSegments(st, mark); err != nil {
		return err
	}
	if err := l.settleCorruptMarker(mark, hasMark); err != nil {
		return err
	}
	active := l.active()
	active.created = now
	leo := active.next
	l.leo.Store(leo)
	l.logStart = min(max(st.logStart, l.segs[0].base), leo)
	l.hw.Store(l.logStart)
	if st.hw >= 0 {
		l.hw.Store(min(max(st.hw, l.logStart), leo))
	}
	l.cleanedTo = l.logStart
	if st.cleanedTo >= 0 {
		l.cleanedTo = min(max(st.cleanedTo, l.logStart), leo)
	}
	// A segment this load created is empty and no crashed process wrote to
	// it; its directory entry was fsynced above, and the first durable
	// append fsyncs the file itself.
	if !fresh {
		if err := active.writable().Sync(); err != nil {
			return fmt.Errorf("sync segment %s: %w", segmentName(active.base), err)
		}
	}
	l.flushed.Store(leo)
	l.lastFlushMs = now
	if _, err := l.epochs.truncateFromEnd(leo); err != nil {
		return err
	}
	return l.epochs.truncateFromStart(l.logStart)
}

// recoverSegments checks the segments after the recovery point, and from
// the segment the corruption marker mark names (base -2: none), and opens
// the active one for writing.
func (l *Log) recoverSegments(st openState, mark corruptMarker) error {
	fs := l.fs
	lastIdx := len(l.segs) - 1
	start := lastIdx
	if !st.clean && st.recoveryPoint < 0 {
		start = 0
	} else if !st.clean {
		start = min(l.segmentForLocked(st.recoveryPoint), lastIdx)
	}
	markIdx := -1
	if mark.base != -2 {
		if markIdx = l.markerSegmentLocked(mark); markIdx >= 0 {
			start = min(start, markIdx)
		}
	}
	if !l.epochs.load() {
		if err := l.rebuildEpochs(); err != nil {
			return err
		}
	}
	var entries []EpochEntry
	for i := start; i <= lastIdx; i++ {
		seg := l.segs[i]
		f, err := fs.OpenAppend(seg.path(logSuffix))
		if err != nil {
			return fmt.Errorf("open segment %s: %w", segmentName(seg.base), err)
		}
		isLast := i == lastIdx
		from := int64(0)
		seg.imu.Lock()
		if st.clean && isLast && i != markIdx && seg.loadIndexFilesLocked(seg.size) == nil {
			// Clean shutdown: trust the index, check only the batches after
			// its last entry.
			if n := len(seg.idx); n > 0 {
				from = int64(seg.idx[n-1].pos)
			}
		} else {
			seg.idx, seg.tidx, seg.maxTs, seg.maxTsOff = nil, nil, -1, -1
			seg.idxGen++
		}
		seg.sinceIdx = 0
		interval := l.cfg.IndexIntervalBytes
		br := newBlockReader(f, seg.size)
		validEnd, next, why, err := scanBatches(br, from, scanOpts{base: seg.base, minNext: seg.base, verifyCRC: true},
			func(pos int64, h *record.Header) {
				seg.indexBatchLocked(pos, h, interval)
				if seg.firstTs < 0 {
					seg.firstTs = h.MaxTimestamp
				}
				if h.PartitionLeaderEpoch >= 0 {
					entries = append(entries, EpochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
				}
			})
		if err == nil && from > 0 && next == seg.base {
			// Everything after the last index entry was cut: find the next
			// offset from the start.
			_, next, _, err = scanBatches(newBlockReader(f, validEnd), 0, scanOpts{base: seg.base, minNext: seg.base}, nil)
		}
		seg.loaded = true
		seg.imu.Unlock()
		if err != nil {
			f.Close()
			return fmt.Errorf("recover segment %s: %w", segmentName(seg.base), err)
		}
		if validEnd == seg.size && !isLast {
			// A sealed segment ends where the next begins (rolls start the
			// new segment at the log end offset; the cleaner keeps offset
			// ranges). A shorter one lost its tail: what follows is not
			// contiguous with it. Only gaps too wide for one segment are
			// legitimate (a follower's jump).
			if nb := l.segs[i+1].base; next > nb || next < nb && nb-next <= math.MaxInt32 {
				l.logger.Warn("sealed segment does not reach the next segment", "segment", segmentName(seg.base), "next_offset", next, "next_base", nb)
				validEnd = -1
			}
		}
		if validEnd < seg.size {
			if validEnd < 0 {
				validEnd = seg.size
			}
			l.logger.Warn("truncating log at invalid or incomplete batch",
				"segment", segmentName(seg.base), "position", validEnd, "size", seg.size, "torn", why == stopTorn,
				"later_segments_deleted", lastIdx-i)
			if err := truncateIfLonger(f, validEnd); err != nil {
				f.Close()
				return fmt.Errorf("truncate segment %s: %w", segmentName(seg.base), err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("sync segment %s: %w", segmentName(seg.base), err)
			}
			seg.size = validEnd
			for j := lastIdx; j > i; j-- {
				l.removeSegmentFiles(l.segs[j])
			}
			l.segs = l.segs[:i+1]
			if err := syncDir(fs, l.dir); err != nil {
				f.Close()
				return err
			}
			lastIdx, isLast = i, true
		}
		if from == 0 {
			seg.verified.Store(seg.size)
		}
		seg.next = next
		if isLast {
			seg.setWritable(f)
			break
		}
		seg.imu.Lock()
		seg.maybeTimeEntryLocked()
		seg.imu.Unlock()
		f.Close()
		if err := seg.writeIndexes(); err != nil {
			return err
		}
	}
	l.epochs.mu.Lock()
	changed := false
	for _, e := range entries {
		changed = l.epochs.assignLocked(e.Epoch, e.StartOffset) || changed
	}
	var err error
	if changed {
		err = l.epochs.flushLocked()
	}
	l.epochs.mu.Unlock()
	return err
}

// settleCorruptMarker acts on the corruption marker after recovery: with
// Options.TruncateCorrupt, recovery has truncated the log at the bad batch
// (the scan from the marked segment stopped there), so the marker goes;
// otherwise a marker naming a segment still present opens the log offline.
func (l *Log) settleCorruptMarker(mark corruptMarker, ok bool) error {
	if !ok {
		return nil
	}
	where := "unreadable marker"
	if mark.base >= 0 {
		where = fmt.Sprintf("segment %s, batch at byte %d", segmentName(mark.base), mark.pos)
	}
	switch {
	case l.markerSegmentLocked(mark) < 0:
		l.logger.Warn("corruption marker names a segment that is gone; removed", "corrupt", where)
		return removeCorruptMarker(l.fs, l.dir)
	case l.truncateCorrupt:
		l.logger.Warn("log recovered after a corrupt batch: checked from the marked segment and truncated at the first bad batch; the replica re-fetches the rest from its leader",
			"corrupt", where, "log_end_offset", l.active().next)
		return removeCorruptMarker(l.fs, l.dir)
	}
	err := fmt.Errorf("%w: %s (marker %s)", ErrCorruptLog, where, corruptMarkerName)
	l.offline.Store(&err)
	l.corrupt.Store(true)
	l.logger.Error("log offline: a corrupt batch was found and there is no replica to repair it from; "+
		"restore the partition directory from a backup, or remove the named segment's files, every later segment and the marker, then restart",
		"dir", l.dir, "corrupt", where)
	return nil
}

// rebuildEpochs rebuilds the leader-epoch cache from the batch headers of
// every segment (the checkpoint file was missing or corrupt).
func (l *Log) rebuildEpochs() error {
	c := &EpochCache{}
	for _, seg := range l.segs {
		f, err := seg.acquire()
		if err != nil {
			return err
		}
		_, _, _, err = scanBatches(newBlockReader(f, seg.size), 0, scanOpts{base: seg.base, minNext: seg.base},
			func(_ int64, h *record.Header) { c.assignLocked(h.PartitionLeaderEpoch, h.BaseOffset) })
		seg.release()
		if err != nil {
			return fmt.Errorf("rebuild leader epochs: %w", err)
		}
	}
	return l.epochs.reset(c.entries)
}

// truncateIfLonger cuts f to size and fsyncs the cut (skipped when f is not
// longer).
func truncateIfLonger(f vfs.File, size int64) error {
	n, err := f.Size()
	if err != nil {
		return err
	}
	if n <= size {
		return nil
	}
	return f.Truncate(size)
}
