package commitlog

// Corruption of data already in the log (docs/adr/0008-segment-scrub.md).
// Recovery checks CRCs only after the recovery point, so a bit that flips
// in a sealed segment later is found here:
//
//   - when serving: Read checks every batch of a segment that no check of
//     this process has covered (segment.verified) before it serves from it,
//     so each segment is checked once per process, the first time it is
//     read;
//   - when idle: the Manager's scrubber checks every segment at a bounded
//     rate (Options.ScrubBytesPerSecond), a pass every Options.ScrubInterval.
//
// A bad batch takes the log offline (ErrCorruptLog in ErrLogOffline; the
// broker reports its log directory offline, so the replica leaves the ISR
// and loses its leadership) and leaves a marker in the partition directory.
// The next open truncates the log at the marked batch (Options.
// TruncateCorrupt: a replica that re-fetches from its leader) or opens it
// offline.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// errSegmentRead wraps an error of the file system while reading a
// segment's bytes: unlike a batch that fails its checks, it says nothing
// about what the file holds.
var errSegmentRead = errors.New("read error")

const (
	// corruptMarkerName is the marker a detected corruption leaves in the
	// partition directory: "<segment base> <byte position>\n" of the first
	// bad batch found.
	corruptMarkerName = "kavka-corrupt-batch"
	// readVerifyTries bounds the checks Read runs without the log's lock
	// (each is retried when a truncation raced with it); the last runs
	// under it.
	readVerifyTries = 3
	// DefaultScrubInterval is the time between the starts of two scrub
	// passes over every log (log.scrub.interval.ms).
	DefaultScrubInterval = 7 * 24 * time.Hour
	// scrubStepsPerTick bounds the scrub steps of one Manager tick (each
	// reads at least one batch or moves to the next segment).
	scrubStepsPerTick = 100_000
)

// checkBatches checks the batches of a segment file in [from, end): headers,
// offsets and CRC32C, as recovery does. It stops cleanly at the first batch
// boundary at or after stop (0: none). It returns where it stopped, and
// bad when that is a batch that failed a check (a batch that runs past end
// is bad too: end is where the segment's valid data ends).
func checkBatches(f vfs.File, base, from, end, stop int64) (pos int64, bad bool, err error) {
	pos, _, why, err := scanBatches(newBlockReader(f, end), from,
		scanOpts{base: base, minNext: base, verifyCRC: true, stopAt: stop}, nil)
	if err != nil {
		return pos, false, err
	}
	return pos, why != stopEnd, nil
}

// raiseVerified records that bytes [0, to) of s passed checkBatches.
func (s *segment) raiseVerified(to int64) {
	for {
		cur := s.verified.Load()
		if to <= cur || s.verified.CompareAndSwap(cur, to) {
			return
		}
	}
}

// ownsLocked reports whether seg is still one of the log's segments.
// l.mu must be held.
func (l *Log) ownsLocked(seg *segment) bool {
	i := l.segmentForLocked(seg.base)
	return i < len(l.segs) && l.segs[i] == seg
}

// verifyJob is a check Read needs before it serves from seg: its bytes
// [seg.verified, to), as of truncation generation gen.
type verifyJob struct {
	seg *segment
	to  int64
	gen uint64
}

// verify runs j. locked: the caller holds l.mu (read), so nothing can
// truncate the segment meanwhile; otherwise the result is dropped when a
// truncation or deletion raced with it (the caller retries). The scan holds
// segment.vmu, so concurrent first readers of a segment check it once.
func (l *Log) verify(j verifyJob, locked bool) error {
	seg := j.seg
	seg.vmu.Lock()
	from := seg.verified.Load()
	if from >= j.to {
		seg.vmu.Unlock()
		return nil
	}
	pos, bad, err := l.checkSegment(seg, from, j.to, 0)
	seg.vmu.Unlock()
	if !locked {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if l.truncGen != j.gen || !l.ownsLocked(seg) {
			return nil
		}
	}
	if err != nil {
		return l.readFailed(seg, pos, err)
	}
	if bad {
		return l.corruptAt(seg, pos)
	}
	seg.raiseVerified(pos)
	return nil
}

// checkSegment runs checkBatches on seg's file.
func (l *Log) checkSegment(seg *segment, from, end, stop int64) (int64, bool, error) {
	f, err := seg.acquire()
	if err != nil {
		return from, false, err
	}
	defer seg.release()
	pos, bad, err := checkBatches(f, seg.base, from, end, stop)
	if err != nil {
		return pos, false, fmt.Errorf("check segment %s: %w", segmentName(seg.base), err)
	}
	return pos, bad, nil
}

// readFailed takes the log offline for an error of the file system while
// reading seg's data (EIO, or its file would not open): the log is not
// corrupt, so no marker is written and nothing is truncated; the broker
// reports its log directory offline and the next process recovers the log
// as after any I/O error (ADR 0006).
//
// pos is the byte of seg's file the failed read began at, or where the
// scan that failed began (0: not known); a header read's own position
// (headerReadError) wins. The error carries both as a *ReadError, for the
// log directory probe to read that part of the file again.
func (l *Log) readFailed(seg *segment, pos int64, err error) error {
	var he *headerReadError
	if errors.As(err, &he) {
		pos = he.pos
	}
	return l.goOffline(fmt.Errorf("read segment %s: %w", segmentName(seg.base),
		&ReadError{Path: seg.path(logSuffix), Off: pos, Err: err}))
}

// headerReadError is errSegmentRead for the batch header at pos.
type headerReadError struct {
	pos int64
	err error
}

func (e *headerReadError) Error() string {
	return fmt.Sprintf("%v: batch header at byte %d: %v", errSegmentRead, e.pos, e.err)
}

func (e *headerReadError) Is(target error) bool { return target == errSegmentRead }

func (e *headerReadError) Unwrap() error { return e.err }

// corruptAt takes the log offline for the bad batch at pos in seg, after
// writing the marker the next open acts on (the first time only).
func (l *Log) corruptAt(seg *segment, pos int64) error {
	err := fmt.Errorf("%w: segment %s, batch at byte %d (offset %d)",
		ErrCorruptLog, segmentName(seg.base), pos, l.batchOffsetAt(seg, pos))
	if l.corrupt.CompareAndSwap(false, true) {
		if werr := writeCorruptMarker(l.fs, l.dir, seg.base, pos); werr != nil {
			l.logger.Error("write the corruption marker; the next start will not repair the log", "err", werr)
		}
	}
	return l.goOffline(err)
}

// batchOffsetAt returns the base offset in the (possibly damaged) batch
// header at pos, or -1: for messages only.
func (l *Log) batchOffsetAt(seg *segment, pos int64) int64 {
	f, err := seg.acquire()
	if err != nil {
		return -1
	}
	defer seg.release()
	var hb [record.HeaderSize]byte
	if n, _ := f.ReadAt(hb[:], pos); n < len(hb) {
		return -1
	}
	h, err := record.ParseHeader(hb[:])
	if err != nil {
		return -1
	}
	return h.BaseOffset
}

// corruptMarker is a parsed marker: the first bad batch found. base -1
// means an unreadable marker (the whole log is suspect).
type corruptMarker struct {
	base, pos int64
}

func writeCorruptMarker(fs vfs.FS, dir string, base, pos int64) error {
	data := []byte(strconv.FormatInt(base, 10) + " " + strconv.FormatInt(pos, 10) + "\n")
	return writeFileAtomic(fs, fs.PathJoin(dir, corruptMarkerName), data, true)
}

// readCorruptMarker reads the marker of dir; ok is false when there is
// none.
func readCorruptMarker(fs vfs.FS, dir string) (m corruptMarker, ok bool, err error) {
	b, err := readWholeFile(fs, fs.PathJoin(dir, corruptMarkerName))
	if isNotExist(err) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		base, err1 := strconv.ParseInt(f[0], 10, 64)
		pos, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil && base >= 0 && pos >= 0 {
			return corruptMarker{base: base, pos: pos}, true, nil
		}
	}
	return corruptMarker{base: -1}, true, nil
}

func removeCorruptMarker(fs vfs.FS, dir string) error {
	if err := fs.Remove(fs.PathJoin(dir, corruptMarkerName)); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove corruption marker: %w", err)
	}
	return syncDir(fs, dir)
}

// markerSegmentLocked returns the index of the segment the marker names,
// 0 for an unreadable marker, or -1 when that segment is gone.
func (l *Log) markerSegmentLocked(m corruptMarker) int {
	if m.base < 0 {
		return 0
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= m.base })
	if i < len(l.segs) && l.segs[i].base == m.base {
		return i
	}
	return -1
}

// scrubCursor is where the scrub of one log goes on: in the segment with
// the smallest base at or above base, from pos if its base is base, else
// from its start.
type scrubCursor struct {
	base, pos int64
}

// scrubStep checks up to about budget bytes of the log from c (at least one
// batch) and advances c. It returns the bytes read and whether the log is
// done (its end reached, or offline or closed). A bad batch takes the log
// offline and is returned as the error.
func (l *Log) scrubStep(c *scrubCursor, budget int64) (n int64, done bool, err error) {
	l.mu.RLock()
	if l.closed || l.offline.Load() != nil {
		l.mu.RUnlock()
		return 0, true, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= c.base })
	if i == len(l.segs) {
		l.mu.RUnlock()
		return 0, true, nil
	}
	seg := l.segs[i]
	from := int64(0)
	if seg.base == c.base {
		from = c.pos
	}
	size, gen, last := seg.size, l.truncGen, i == len(l.segs)-1
	l.mu.RUnlock()
	if from >= size {
		*c = scrubCursor{base: seg.base + 1}
		return 0, last, nil
	}
	pos, bad, err := l.checkSegment(seg, from, size, from+max(budget, 1))
	if errors.Is(err, errSegmentGone) {
		*c = scrubCursor{base: seg.base + 1}
		return 0, false, nil
	}
	if err != nil {
		return pos - from, true, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.truncGen != gen || !l.ownsLocked(seg) {
		// Truncated or deleted while it was read: check again from the
		// start of the segment at this base, or of the next one.
		*c = scrubCursor{base: seg.base}
		return pos - from, false, nil
	}
	if bad {
		return pos - from, true, l.corruptAt(seg, pos)
	}
	if from <= seg.verified.Load() {
		seg.raiseVerified(pos)
	}
	if pos < size {
		*c = scrubCursor{base: seg.base, pos: pos}
		return pos - from, false, nil
	}
	*c = scrubCursor{base: seg.base + 1}
	return pos - from, last, nil
}

// scrubber is the Manager's background check of every log's batches at a
// bounded rate. It is owned by Run's goroutine.
type scrubber struct {
	perTick  int64 // bytes per Manager tick; 0: off
	interval int64 // ms between the starts of two passes

	passing   bool
	passStart int64 // ms
	nextPass  int64 // ms; the first pass starts at once
	queue     []*Log
	cur       scrubCursor
	bytes     int64 // read in this pass
}

func newScrubber(bytesPerSecond int64, tick, interval time.Duration) *scrubber {
	if interval <= 0 {
		interval = DefaultScrubInterval
	}
	return &scrubber{
		perTick:  int64(float64(bytesPerSecond) * tick.Seconds()),
		interval: interval.Milliseconds(),
	}
}

// run spends one tick's budget: it goes on with the current pass, or
// starts one over logs() when the last started interval ago.
func (sc *scrubber) run(ctx context.Context, now int64, logs func() []*Log, logger *slog.Logger) {
	budget := sc.perTick
	for range scrubStepsPerTick {
		if budget <= 0 || ctx.Err() != nil {
			return
		}
		if len(sc.queue) == 0 {
			if sc.passing {
				sc.passing = false
				sc.nextPass = sc.passStart + sc.interval
				logger.Info("log scrub pass done", "bytes", sc.bytes, "took", time.Duration(now-sc.passStart)*time.Millisecond)
			}
			if now < sc.nextPass {
				return
			}
			sc.queue, sc.passing, sc.passStart, sc.bytes, sc.cur = logs(), true, now, 0, scrubCursor{}
			if len(sc.queue) == 0 {
				return
			}
		}
		l := sc.queue[0]
		n, done, err := l.scrubStep(&sc.cur, budget)
		budget -= n
		sc.bytes += n
		if err != nil && !errors.Is(err, ErrLogOffline) {
			logger.Warn("log scrub", "topic", l.topic, "partition", l.partition, "err", err)
		}
		if done || err != nil {
			sc.queue, sc.cur = sc.queue[1:], scrubCursor{}
		}
	}
}
