package commitlog

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// File name suffixes, as in Kafka.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName returns the base offset of "<20 digits>.log".
func parseSegmentName(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

var errSegmentGone = errors.New("segment deleted")

// segment is one .log file with its two sparse indexes.
//
// Locks: the owning Log's mu guards size, next and the segment list; imu
// guards the in-memory indexes (they are loaded lazily under a read lock of
// Log.mu); fmu guards the file handle and its reference count. imu and fmu are
// leaves: nothing else is locked while they are held, except that fmu may be
// taken while Log.mu is held.
type segment struct {
	fs   vfs.FS
	dir  string
	base int64 // immutable
	hc   *handleCache

	// Guarded by Log.mu.
	size    int64 // bytes of valid batches in the file
	next    int64 // active segment only: offset after its last batch
	firstTs int64 // rolling-based timestamp (segment.ms); -1 until known
	created int64 // clock millis when created or opened; used when firstTs < 0

	imu      sync.Mutex
	loaded   bool          // guarded by imu: idx, tidx, maxTs are valid
	idx      []offsetEntry // guarded by imu
	tidx     []timeEntry   // guarded by imu
	maxTs    int64         // guarded by imu: largest batch max timestamp, -1 none
	maxTsOff int64         // guarded by imu: last offset of that batch
	sinceIdx int64         // guarded by imu: bytes appended since the last index entry
	// idxGen counts changes of idx/tidx; idxSaved is the idxGen the index
	// files on disk hold (loaded or written), so that Close does not
	// rewrite and fsync the unchanged indexes of thousands of idle
	// partitions. Both guarded by imu.
	idxGen, idxSaved uint64

	// verified: bytes [0, verified) passed a CRC32C check of every batch
	// in this process (recovery's scan, an append, a first read, the
	// scrubber; scrub.go). Raised under Log.mu (read or write), lowered
	// only by a truncation under Log.mu (write).
	verified atomic.Int64
	vmu      sync.Mutex // held while Read checks the segment (scrub.go)

	fmu    sync.Mutex
	f      vfs.File // guarded by fmu; nil when not open
	refs   int      // guarded by fmu
	pinned bool     // guarded by fmu: the active segment is never evicted
	gone   bool     // guarded by fmu: removed from the log; close at refs 0
	tick   uint64   // guarded by fmu: last use, for the LRU
}

func newSegment(fs vfs.FS, dir string, base int64, hc *handleCache) *segment {
	return &segment{fs: fs, dir: dir, base: base, hc: hc, firstTs: -1, maxTs: -1, maxTsOff: -1, idxGen: 1}
}

func (s *segment) path(suffix string) string {
	return s.fs.PathJoin(s.dir, segmentName(s.base)+suffix)
}

// acquire returns the open .log file and takes a reference on it; release
// gives it back. A sealed segment's file is opened on demand and may be
// closed by the handle cache when unreferenced.
func (s *segment) acquire() (vfs.File, error) {
	s.fmu.Lock()
	if s.gone && s.f == nil {
		s.fmu.Unlock()
		return nil, errSegmentGone
	}
	opened := false
	if s.f == nil {
		f, err := s.fs.Open(s.path(logSuffix))
		if err != nil {
			s.fmu.Unlock()
			return nil, fmt.Errorf("open segment %s: %w", segmentName(s.base), err)
		}
		s.f, opened = f, true
	}
	s.refs++
	s.tick = s.hc.next()
	f := s.f
	s.fmu.Unlock()
	if opened {
		s.hc.opened(s)
	}
	return f, nil
}

func (s *segment) release() {
	s.fmu.Lock()
	s.refs--
	if s.refs < 0 {
		s.fmu.Unlock()
		panic("BUG: segment reference count below zero")
	}
	var f vfs.File
	if s.refs == 0 && s.gone && s.f != nil {
		f, s.f = s.f, nil
	}
	s.fmu.Unlock()
	if f != nil {
		f.Close()
		s.hc.closed(s)
	}
}

// setWritable installs an open writable file and pins it (active segment).
func (s *segment) setWritable(f vfs.File) {
	s.fmu.Lock()
	old := s.f
	s.f, s.pinned = f, true
	s.fmu.Unlock()
	if old != nil {
		old.Close()
	}
	if s.hc.pin(s) {
		s.hc.evict(s)
	}
}

// writable returns the pinned file of the active segment.
func (s *segment) writable() vfs.File {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if !s.pinned || s.f == nil {
		panic("BUG: write to a segment that is not active")
	}
	return s.f
}

func (s *segment) unpin() {
	s.fmu.Lock()
	s.pinned = false
	open := s.f != nil
	s.fmu.Unlock()
	if open {
		s.hc.unpin(s)
	}
}

// retire marks the segment removed from its log: its file is closed once
// the last Slice referencing it is released, and never reopened.
func (s *segment) retire() {
	s.fmu.Lock()
	s.gone, s.pinned = true, false
	var f vfs.File
	if s.refs == 0 && s.f != nil {
		f, s.f = s.f, nil
	}
	s.fmu.Unlock()
	if f != nil {
		f.Close()
		s.hc.closed(s)
	}
}

// tryEvict closes the file if nothing references it. It reports whether
// the handle was closed.
func (s *segment) tryEvict() bool {
	s.fmu.Lock()
	if s.f == nil || s.refs > 0 || s.pinned {
		s.fmu.Unlock()
		return false
	}
	f := s.f
	s.f = nil
	s.fmu.Unlock()
	f.Close()
	// Drop the sealed segment's indexes too, so idle partitions stay small.
	// TryLock: the caller may be loading another segment's index while it
	// holds that segment's imu; never wait for an imu here.
	if s.imu.TryLock() {
		s.loaded, s.idx, s.tidx = false, nil, nil
		s.idxGen++
		s.imu.Unlock()
	}
	return true
}

// indexBatch updates the in-memory indexes for a batch appended at pos, as
// kafka.log.LogSegment.append does. s.imu must be held.
func (s *segment) indexBatchLocked(pos int64, h *record.Header, interval int32) {
	last := h.LastOffset()
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, last
	}
	if s.sinceIdx > int64(interval) {
		rel := uint32(last - s.base)
		if n := len(s.idx); n == 0 || (rel > s.idx[n-1].rel && uint32(pos) > s.idx[n-1].pos) {
			s.idx = append(s.idx, offsetEntry{rel: rel, pos: uint32(pos)})
			s.idxGen++
		}
		s.maybeTimeEntryLocked()
		s.sinceIdx = 0
	}
	s.sinceIdx += int64(h.Size())
}

// maybeTimeEntryLocked appends (maxTs, maxTsOff) to the time index when it is
// newer than the last entry. s.imu must be held.
func (s *segment) maybeTimeEntryLocked() {
	if s.maxTs < 0 {
		return
	}
	if n := len(s.tidx); n == 0 || s.maxTs > s.tidx[n-1].ts {
		s.tidx = append(s.tidx, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
		s.idxGen++
	}
}

// indexFull reports whether either index has reached maxBytes.
// s.imu must be held.
func (s *segment) indexFullLocked(maxBytes int32) bool {
	return int64(len(s.idx)+1)*offsetEntrySize > int64(maxBytes) ||
		int64(len(s.tidx)+1)*timeEntrySize > int64(maxBytes)
}

// writeIndexes writes both index files atomically (tmp, fsync, rename).
// Index files are rebuildable, so the directory is not synced.
//
// Unchanged indexes (as loaded from their files or last written) are not
// written again.
func (s *segment) writeIndexes() error {
	s.imu.Lock()
	if !s.loaded || s.idxSaved == s.idxGen {
		s.imu.Unlock()
		return nil
	}
	gen := s.idxGen
	ib := appendOffsetIndex(nil, s.idx)
	tb := appendTimeIndex(nil, s.tidx)
	s.imu.Unlock()
	if err := writeFileAtomic(s.fs, s.path(indexSuffix), ib, false); err != nil {
		return err
	}
	if err := writeFileAtomic(s.fs, s.path(timeIndexSuffix), tb, false); err != nil {
		return err
	}
	s.imu.Lock()
	s.idxSaved = max(s.idxSaved, gen)
	s.imu.Unlock()
	return nil
}

// ensureIndexes loads the index files of a sealed segment, or rebuilds them
// from the log when missing or inconsistent. size is the segment's size.
func (s *segment) ensureIndexes(size int64, interval int32) error {
	s.imu.Lock()
	defer s.imu.Unlock()
	if s.loaded {
		return nil
	}
	if s.loadIndexFilesLocked(size) == nil {
		s.loaded = true
		return nil
	}
	return s.rebuildIndexesLocked(size, interval)
}

func (s *segment) loadIndexFilesLocked(size int64) error {
	ib, err := readWholeFile(s.fs, s.path(indexSuffix))
	if err != nil {
		return err
	}
	tb, err := readWholeFile(s.fs, s.path(timeIndexSuffix))
	if err != nil {
		return err
	}
	idx, err := parseOffsetIndex(ib, size)
	if err != nil {
		return err
	}
	tidx, err := parseTimeIndex(tb, 1<<31-1)
	if err != nil {
		return err
	}
	if size > 0 && len(tidx) == 0 {
		return fmt.Errorf("%w: empty time index for non-empty segment", errBadIndex)
	}
	s.idx, s.tidx = idx, tidx
	s.idxGen++
	s.idxSaved = s.idxGen
	s.maxTs, s.maxTsOff = -1, -1
	if n := len(tidx); n > 0 {
		s.maxTs, s.maxTsOff = tidx[n-1].ts, s.base+int64(tidx[n-1].rel)
	}
	return nil
}

// rebuildIndexesLocked scans the log's headers. s.imu must be held.
func (s *segment) rebuildIndexesLocked(size int64, interval int32) error {
	f, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	s.idx, s.tidx, s.sinceIdx, s.maxTs, s.maxTsOff = nil, nil, 0, -1, -1
	s.idxGen++
	br := newBlockReader(f, size)
	_, _, _, err = scanBatches(br, 0, scanOpts{base: s.base, minNext: s.base}, func(pos int64, h *record.Header) {
		s.indexBatchLocked(pos, h, interval)
	})
	if err != nil {
		return err
	}
	s.maybeTimeEntryLocked()
	s.loaded = true
	return nil
}

// readWholeFile reads a whole file through vfs.
func readWholeFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	if n > 1<<31 {
		return nil, fmt.Errorf("file %s too large: %d bytes", name, n)
	}
	b := make([]byte, n)
	m, err := f.ReadAt(b, 0)
	if m == len(b) {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %s: %w", name, err)
}

// writeFileAtomic writes name via a temporary file: write, fsync, rename,
// and (when syncDir) fsync the directory.
func writeFileAtomic(fs vfs.FS, name string, data []byte, syncDir bool) error {
	tmp := name + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if syncDir {
		return syncDirOf(fs, name)
	}
	return nil
}

// syncDirOf fsyncs the directory holding name.
func syncDirOf(fs vfs.FS, name string) error {
	return syncDir(fs, parentDir(name))
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	cerr := d.Close()
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	if cerr != nil {
		return fmt.Errorf("close dir %s: %w", dir, cerr)
	}
	return nil
}

func parentDir(name string) string {
	i := strings.LastIndexAny(name, `/\`)
	switch {
	case i < 0:
		return "."
	case i == 0:
		return name[:1]
	}
	return name[:i]
}

// handleCache bounds the number of open sealed-segment files across the
// logs that share it (lazy open, LRU close). Active segments are pinned and
// count toward the total but are never closed by it; they are kept apart so
// that an eviction looks only at sealed files (with 10,000 partitions, all
// active, scanning them made every open O(n log n) and Manager.Load
// quadratic).
type handleCache struct {
	mu     sync.Mutex
	limit  int
	open   map[*segment]struct{} // guarded by mu: open sealed files (evictable)
	pinned map[*segment]struct{} // guarded by mu: open active files
	clock  uint64                // guarded by mu
}

func newHandleCache(limit int) *handleCache {
	return &handleCache{limit: limit, open: make(map[*segment]struct{}), pinned: make(map[*segment]struct{})}
}

func (c *handleCache) next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	return c.clock
}

func (c *handleCache) closed(s *segment) {
	c.mu.Lock()
	delete(c.open, s)
	delete(c.pinned, s)
	c.mu.Unlock()
}

// pin records that s's open file is an active segment's (never evicted).
// It reports whether s was not counted before.
func (c *handleCache) pin(s *segment) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, was := c.open[s]
	_, wasPinned := c.pinned[s]
	delete(c.open, s)
	c.pinned[s] = struct{}{}
	return !was && !wasPinned
}

// unpin makes a sealed segment's open file evictable.
func (c *handleCache) unpin(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pinned[s]; ok {
		delete(c.pinned, s)
		c.open[s] = struct{}{}
	}
}

// opened records a newly opened sealed file and closes the least recently
// used unreferenced files while over the limit. No segment lock may be held.
func (c *handleCache) opened(s *segment) {
	c.mu.Lock()
	c.open[s] = struct{}{}
	c.mu.Unlock()
	c.evict(s)
}

// evict closes the least recently used unreferenced sealed files (not
// keep) while over the limit. No segment lock may be held.
func (c *handleCache) evict(keep *segment) {
	c.mu.Lock()
	over := len(c.open) + len(c.pinned) - c.limit
	var cands []*segment
	if over > 0 {
		cands = make([]*segment, 0, len(c.open))
		for o := range c.open {
			if o != keep {
				cands = append(cands, o)
			}
		}
	}
	c.mu.Unlock()
	if over <= 0 || len(cands) == 0 {
		return
	}
	ticks := make(map[*segment]uint64, len(cands))
	for _, o := range cands {
		o.fmu.Lock()
		ticks[o] = o.tick
		o.fmu.Unlock()
	}
	sort.Slice(cands, func(i, j int) bool { return ticks[cands[i]] < ticks[cands[j]] })
	for _, o := range cands {
		if over <= 0 {
			break
		}
		if o.tryEvict() {
			c.closed(o)
			over--
		}
	}
}
