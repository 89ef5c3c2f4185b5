package commitlog

import (
	"context"
	"fmt"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// The compaction cleaner (cleanup.policy=compact), after
// kafka.log.LogCleaner / Cleaner.doClean, simplified:
//
//   - Only sealed segments below the first uncleanable offset are cleaned:
//     min(active segment base, last stable offset, the first segment holding
//     a batch younger than min.compaction.lag.ms).
//   - It runs when the dirty ratio (bytes at or after the cleaner checkpoint
//     over all cleanable bytes) reaches min.cleanable.dirty.ratio, or when
//     the oldest dirty data is older than max.compaction.lag.ms.
//   - An offset map (key → latest offset) is built over the dirty part,
//     then every cleanable segment is rewritten keeping a record when no
//     later record has its key. Offsets never change; a batch's offset range
//     is kept when it is the segment's last, so segments stay contiguous.
//   - Records of aborted transactions are dropped (an abort marker seen
//     after them in the cleanable range). A transaction marker is kept
//     while any batch of its transaction is (an emptied batch kept for its
//     offset range counts); once the transaction is empty the marker gets a
//     delete horizon (now + delete.retention.ms) and is dropped when a
//     later pass finds the horizon passed, as Kafka's cleaner does
//     (KIP-534), so that a read_committed consumer that read the data has
//     time to read the marker too.
//   - A tombstone gets a delete horizon (KIP-534: now + delete.retention.ms)
//     the first time it is cleaned and is dropped once the horizon passed.
//   - Changed batches are rebuilt with their own codec by record.Builder;
//     unchanged ones are copied byte for byte.
//   - Each segment is replaced on its own (Kafka groups small segments;
//     Kavka does not, yet): write <base>.log.cleaned, fsync, rename to
//     <base>.log.swap, fsync the directory, rename over <base>.log, fsync the
//     directory. Recovery discards a .cleaned file and finishes a .swap.

// maxOffsetMapKeys bounds the cleaner's memory per pass (Kafka:
// log.cleaner.dedupe.buffer.size). The dirty range stops at the segment
// where the map fills up.
const maxOffsetMapKeys = 1 << 20

// cleanerStats describes one cleaning pass (for tests and logs).
type cleanerStats struct {
	segments          int // segments rewritten
	bytesIn, bytesOut int64
	recordsDropped    int
}

// maybeClean runs one cleaning pass if the log is compacted and due.
func (l *Log) maybeClean(ctx context.Context, now int64) (bool, error) {
	st, err := l.clean(ctx, now, false)
	return st.segments > 0, err
}

// cleanSeg is a cleanable segment snapshot.
type cleanSeg struct {
	seg       *segment
	size, end int64 // end: the next segment's base
}

// clean runs a pass; force ignores the dirty ratio (tests).
func (l *Log) clean(ctx context.Context, now int64, force bool) (cleanerStats, error) {
	var st cleanerStats
	l.mu.Lock()
	cfg := l.cfg
	if !cfg.CleanupCompact || l.closed || l.offline.Load() != nil || l.cleanerBusy {
		l.mu.Unlock()
		return st, nil
	}
	uncleanable := min(l.active().base, l.LastStableOffset())
	var segs []cleanSeg
	var dirtyBytes, cleanBytes int64
	oldestDirtyTs := int64(-1)
	for i := 0; i+1 < len(l.segs); i++ {
		s := l.segs[i]
		end := l.segs[i+1].base
		if end > uncleanable {
			break
		}
		if err := s.ensureIndexes(s.size, cfg.IndexIntervalBytes); err != nil {
			l.mu.Unlock()
			return st, err
		}
		s.imu.Lock()
		maxTs := s.maxTs
		s.imu.Unlock()
		if cfg.MinCompactionLagMs > 0 && maxTs > now-cfg.MinCompactionLagMs {
			break
		}
		segs = append(segs, cleanSeg{s, s.size, end})
		if end > l.cleanedTo {
			dirtyBytes += s.size
			if oldestDirtyTs < 0 && s.firstTs >= 0 {
				oldestDirtyTs = s.firstTs
			}
		} else {
			cleanBytes += s.size
		}
	}
	due := dirtyBytes > 0 && (force ||
		float64(dirtyBytes)/float64(dirtyBytes+cleanBytes) >= cfg.MinCleanableDirtyRatio ||
		oldestDirtyTs >= 0 && now-oldestDirtyTs > cfg.MaxCompactionLagMs)
	if !due {
		l.mu.Unlock()
		return st, nil
	}
	l.cleanerBusy = true
	cleanedTo := l.cleanedTo
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.cleanerBusy = false
		l.mu.Unlock()
	}()

	// Pass 1: aborted transactions and the offset map.
	aborted, err := l.findAborted(segs)
	if err != nil {
		return st, err
	}
	keys := make(map[string]int64)
	dirtyEnd := cleanedTo
	for _, cs := range segs {
		if cs.end <= cleanedTo {
			continue
		}
		if len(keys) >= maxOffsetMapKeys {
			break
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		err := forEachBatch(cs, func(b []byte, h *record.Header) error {
			if h.Control() || aborted[h.BaseOffset] {
				return nil
			}
			recs, err := record.DecodeRecords(b, maxDecoded)
			if err != nil {
				return err
			}
			for i := range recs {
				if recs[i].Key != nil {
					keys[string(recs[i].Key)] = h.BaseOffset + int64(recs[i].OffsetDelta)
				}
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		dirtyEnd = cs.end
	}
	// Pass 2: rewrite every cleanable segment up to dirtyEnd, from the log
	// start, so that txns sees every batch of a transaction before its
	// marker.
	horizon := now + cfg.DeleteRetentionMs
	txns := map[int64]bool{} // producer id → its current transaction kept a batch
	for _, cs := range segs {
		if cs.end > dirtyEnd {
			break
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		out, dropped, changed, err := cleanSegment(cs, keys, aborted, txns, now, horizon)
		if err != nil {
			return st, fmt.Errorf("clean segment %s: %w", segmentName(cs.seg.base), err)
		}
		if !changed {
			continue
		}
		if err := l.swapSegment(cs, out); err != nil {
			return st, err
		}
		st.segments++
		st.bytesIn += cs.size
		st.bytesOut += int64(len(out))
		st.recordsDropped += dropped
	}
	l.mu.Lock()
	l.cleanedTo = max(l.cleanedTo, dirtyEnd)
	l.mu.Unlock()
	if st.segments > 0 {
		l.logger.Info("cleaned log", "segments", st.segments, "bytes_in", st.bytesIn, "bytes_out", st.bytesOut, "records_dropped", st.recordsDropped)
	}
	return st, nil
}

// forEachBatch reads a segment snapshot batch by batch.
func forEachBatch(cs cleanSeg, fn func(b []byte, h *record.Header) error) error {
	f, err := cs.seg.acquire()
	if err != nil {
		return err
	}
	defer cs.seg.release()
	br := newBlockReader(f, cs.size)
	var ferr error
	_, _, _, err = scanBatches(br, 0, scanOpts{base: cs.seg.base, minNext: cs.seg.base}, func(pos int64, h *record.Header) {
		if ferr != nil {
			return
		}
		b, err := br.at(pos, h.Size())
		if err != nil {
			ferr = err
			return
		}
		ferr = fn(b, h)
	})
	if err != nil {
		return err
	}
	return ferr
}

// findAborted returns the base offsets of transactional batches whose
// transaction was aborted by a marker within segs.
func (l *Log) findAborted(segs []cleanSeg) (map[int64]bool, error) {
	open := map[int64][]int64{} // producer id → batch base offsets of its open transaction
	aborted := map[int64]bool{}
	for _, cs := range segs {
		err := forEachBatch(cs, func(b []byte, h *record.Header) error {
			if !h.Transactional() {
				return nil
			}
			if !h.Control() {
				open[h.ProducerID] = append(open[h.ProducerID], h.BaseOffset)
				return nil
			}
			recs, err := record.DecodeRecords(b, maxDecoded)
			if err != nil || len(recs) == 0 {
				return err
			}
			typ, err := record.ParseControlRecord(recs[0].Key)
			if err != nil {
				return nil // unknown control record: leave it alone
			}
			if typ == record.ControlAbort {
				for _, off := range open[h.ProducerID] {
					aborted[off] = true
				}
			}
			delete(open, h.ProducerID)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return aborted, nil
}

// cleanSegment returns the segment's new contents and whether they differ.
// txns carries, across the segments of a pass, whether each producer's
// current transaction kept a batch.
func cleanSegment(cs cleanSeg, keys map[string]int64, aborted map[int64]bool, txns map[int64]bool, now, horizon int64) ([]byte, int, bool, error) {
	out := make([]byte, 0, cs.size)
	dropped := 0
	changed := false
	var bld record.Builder
	type pendingBatch struct {
		b []byte
		h record.Header
	}
	var batches []pendingBatch
	err := forEachBatch(cs, func(b []byte, h *record.Header) error {
		batches = append(batches, pendingBatch{append([]byte(nil), b...), *h})
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	for bi, pb := range batches {
		h := pb.h
		last := bi == len(batches)-1
		if h.Control() {
			keep, rebuilt, err := cleanMarker(pb.b, &h, txns, now, horizon, last)
			if err != nil {
				return nil, 0, false, err
			}
			switch {
			case rebuilt != nil:
				changed = true
				out = append(out, rebuilt...)
			case keep:
				out = append(out, pb.b...)
			default:
				changed = true
				dropped++
			}
			continue
		}
		recs, err := record.DecodeRecords(pb.b, maxDecoded)
		if err != nil {
			return nil, 0, false, err
		}
		kept := recs[:0:0]
		needHorizon := false
		for i := range recs {
			r := &recs[i]
			off := h.BaseOffset + int64(r.OffsetDelta)
			switch {
			case aborted[h.BaseOffset]:
				continue
			case r.Key != nil && keys[string(r.Key)] > off:
				continue // a later record has this key
			case r.Value == nil && h.HasDeleteHorizon() && h.BaseTimestamp <= now:
				continue // tombstone past its delete horizon
			case r.Value == nil && !h.HasDeleteHorizon():
				needHorizon = true
			}
			kept = append(kept, *r)
		}
		dropped += len(recs) - len(kept)
		if h.Transactional() && (len(kept) > 0 || last) {
			txns[h.ProducerID] = true
		}
		if len(kept) == len(recs) && !needHorizon {
			out = append(out, pb.b...)
			continue
		}
		changed = true
		if len(kept) == 0 && !last {
			continue
		}
		opts := record.BuilderOptions{
			Codec: h.Codec(), BaseOffset: h.BaseOffset, BaseTimestamp: h.BaseTimestamp,
			ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
			Transactional: h.Transactional(), LogAppendTime: h.LogAppendTime(),
			PartitionLeaderEpoch: h.PartitionLeaderEpoch, LastOffsetDelta: h.LastOffsetDelta,
		}
		if h.HasDeleteHorizon() {
			opts.DeleteHorizon = h.BaseTimestamp
		} else if needHorizon {
			opts.DeleteHorizon = horizon
		}
		bld.Reset(opts)
		for _, r := range kept {
			bld.Add(r)
		}
		start := len(out)
		out, err = bld.Build(out)
		if err != nil {
			return nil, 0, false, err
		}
		if h.LogAppendTime() {
			record.SetLogAppendTime(out[start:], h.MaxTimestamp)
		}
	}
	return out, dropped, changed, nil
}

// cleanMarker decides a control batch's fate: kept as is, rebuilt with a
// delete horizon (its transaction is empty for the first time), or dropped
// (empty transaction, horizon passed). The segment's last batch is never
// dropped, so that segments stay contiguous. Mirrors LogCleaner's
// CleanedTransactionMetadata.onControlBatchRead.
func cleanMarker(b []byte, h *record.Header, txns map[int64]bool, now, horizon int64, last bool) (keep bool, rebuilt []byte, err error) {
	if !h.Transactional() {
		return true, nil, nil
	}
	nonEmpty := txns[h.ProducerID]
	delete(txns, h.ProducerID)
	if nonEmpty {
		return true, nil, nil
	}
	if h.HasDeleteHorizon() {
		return h.BaseTimestamp > now || last, nil, nil
	}
	recs, err := record.DecodeRecords(b, maxDecoded)
	if err != nil {
		return false, nil, err
	}
	var bld record.Builder
	bld.Reset(record.BuilderOptions{
		Codec: h.Codec(), BaseOffset: h.BaseOffset, BaseTimestamp: h.BaseTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: true, Control: true, LogAppendTime: h.LogAppendTime(),
		PartitionLeaderEpoch: h.PartitionLeaderEpoch, LastOffsetDelta: h.LastOffsetDelta, DeleteHorizon: horizon,
	})
	for _, r := range recs {
		bld.Add(r)
	}
	out, err := bld.Build(nil)
	if err != nil {
		return false, nil, err
	}
	if h.LogAppendTime() {
		record.SetLogAppendTime(out, h.MaxTimestamp)
	}
	return true, out, nil
}

// swapSegment replaces cs.seg's file with data, crash-safely (see the
// package comment above). If the segment left the log meanwhile (retention,
// truncation), the cleaned file is discarded.
func (l *Log) swapSegment(cs cleanSeg, data []byte) error {
	old := cs.seg
	logPath := old.path(logSuffix)
	cleaned := logPath + cleanedSuffix
	swap := logPath + swapSuffix
	if err := writeSynced(l.fs, cleaned, data); err != nil {
		return err
	}
	if err := l.fs.Rename(cleaned, swap); err != nil {
		return fmt.Errorf("rename %s: %w", cleaned, err)
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := -1
	for i, s := range l.segs {
		if s == old {
			idx = i
		}
	}
	if idx < 0 || idx == len(l.segs)-1 || old.size != cs.size {
		_ = l.fs.Remove(swap)
		return nil
	}
	// The old indexes must not outlive the old data.
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(old.path(suf)); err != nil && !isNotExist(err) {
			return l.goOffline(fmt.Errorf("remove %s: %w", old.path(suf), err))
		}
	}
	if err := l.fs.Rename(swap, logPath); err != nil {
		return l.goOffline(fmt.Errorf("rename %s: %w", swap, err))
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return l.goOffline(err)
	}
	ns := newSegment(l.fs, l.dir, old.base, l.hc)
	ns.size, ns.firstTs, ns.created = int64(len(data)), old.firstTs, old.created
	ns.imu.Lock()
	err := ns.rebuildIndexesLocked(ns.size, l.cfg.IndexIntervalBytes)
	ns.imu.Unlock()
	if err != nil {
		return l.goOffline(err)
	}
	l.segs[idx] = ns
	old.retire()
	if err := ns.writeIndexes(); err != nil {
		l.logger.Warn("write cleaned segment indexes", "segment", segmentName(ns.base), "err", err)
	}
	return nil
}

// writeSynced creates name with data and fsyncs it.
func writeSynced(fs vfs.FS, name string, data []byte) error {
	f, err := fs.Create(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	return f.Close()
}
