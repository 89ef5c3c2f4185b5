package commitlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Options are a Log's or Manager's dependencies.
type Options struct {
	Clock  clock.Clock  // nil = clock.Real
	Logger *slog.Logger // nil = slog.Default()

	// MaxOpenFiles bounds the segment files open at once across the logs of
	// a Manager (or one standalone Log). Active segments always stay open.
	// 0 means 4096.
	MaxOpenFiles int

	// SyncWorkers bounds the fsyncs a Manager runs at once for durable
	// logs while Manager.Run runs (group commit across partitions,
	// syncer.go). 0 means DefaultSyncWorkers.
	SyncWorkers int

	// ProducerIDExpiration is producer.id.expiration.ms: a producer
	// without a batch for this long and without an open transaction is
	// forgotten. 0 means 1 day.
	ProducerIDExpiration time.Duration

	// OnOffline, if set, is called once per log when an I/O error takes it
	// offline (ErrLogOffline), with the error: the broker reports its log
	// directory offline (KIP-858). It runs on the failing caller's
	// goroutine, possibly with the log's locks held, so it must return at
	// once and must not call into the log.
	OnOffline func(l *Log, err error)

	// TruncateCorrupt: a log whose corruption marker (scrub.go) names a
	// bad batch is truncated at that batch when opened, dropping every
	// later segment, as recovery does with a torn tail; a replica then
	// re-fetches the rest from its leader. When false (single-node mode:
	// nothing to re-fetch from) the log opens offline with ErrCorruptLog
	// and keeps its data for the operator.
	TruncateCorrupt bool

	// ScrubBytesPerSecond bounds the Manager's background CRC32C check of
	// every log (log.scrub.bytes.per.second); 0 turns it off.
	ScrubBytesPerSecond int64
	// ScrubInterval is the time between the starts of two scrub passes
	// (log.scrub.interval.ms). 0 means DefaultScrubInterval.
	ScrubInterval time.Duration
}

func (o *Options) fill() {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 4096
	}
}

// AppendResult describes an append.
type AppendResult struct {
	FirstOffset   int64 // offset of the first record appended
	LastOffset    int64 // offset of the last record appended
	LogAppendTime int64 // the timestamp written, or -1 unless LogAppendTime
	NumRecords    int   // records appended (sum of the batches' record counts)
	Bytes         int   // bytes appended
}

// Log is one partition's log. All methods are safe for concurrent use.
//
// Lock order: Log.mu → segment.fmu → handleCache.mu; Log.mu → segment.imu;
// Log.mu → EpochCache.mu. Log.smu (the group-commit leader election) is never
// held while taking Log.mu.
type Log struct {
	fs        vfs.FS
	dir       string
	topic     string // immutable; "" for a standalone log with an unparsable dir
	partition int32  // immutable
	clk       clock.Clock
	logger    *slog.Logger
	hc        *handleCache
	epochs    *EpochCache

	mu            sync.RWMutex
	cfg           Config     // guarded by mu
	segs          []*segment // guarded by mu: by base offset; the last is active
	logStart      int64      // guarded by mu
	leo           atomic.Int64
	closed        bool    // guarded by mu
	unflushedMsgs int64   // guarded by mu: records appended since the last fsync
	lastFlushMs   int64   // guarded by mu
	trash         []trash // guarded by mu: renamed .deleted files awaiting removal
	cleanedTo     int64   // guarded by mu: cleaner's first dirty offset
	cleanerBusy   bool    // guarded by mu
	truncGen      uint64  // guarded by mu: bumped by every truncation

	flushed atomic.Int64 // every offset below is durable (the recovery point)
	hw      atomic.Int64
	lso     atomic.Int64 // -1: follows hw
	// held: transactions whose marker is in the log but not yet below the
	// high watermark (unreplicated.go).
	held      heldTxns
	offline   atomic.Pointer[error]
	onOffline func(*Log, error) // immutable; nil: nobody to tell
	// corrupt: a corrupt batch took the log offline; it serves no reads
	// (scrub.go).
	corrupt         atomic.Bool
	truncateCorrupt bool // immutable: Options.TruncateCorrupt

	ps producerStates // idempotence and transactions (producer_state.go); its own mu, taken before mu

	// Group commit (durable.go, syncer.go).
	syncer  *syncer    // immutable; nil for a standalone log
	smu     sync.Mutex // never held while taking mu
	syncing *syncRound // guarded by smu: the fsync running now, or nil
	pending *syncRound // guarded by smu: the next fsync (queued, or queued when syncing ends), or nil
	// onDurable is told when an fsync round raised the durable offset
	// (SetOnDurable); nil: nobody.
	onDurable atomic.Pointer[func()]
}

type trash struct {
	paths []string
	at    int64 // clock millis when they may be removed
}

// openState is what a Manager knows about a log from its checkpoints.
type openState struct {
	clean         bool  // the clean-shutdown marker was present
	recoveryPoint int64 // -1: unknown, recover every segment
	logStart      int64 // -1: unknown
	hw            int64 // -1: unknown
	cleanedTo     int64 // -1: unknown
	hc            *handleCache
	syncer        *syncer // nil: waiters lead their own fsyncs
	topic         string
	partition     int32
}

// Open opens the log in dir, creating the directory if missing. Without a
// Manager's checkpoints it recovers every segment: batches are checked
// (CRC32C included) and a torn or corrupt tail is truncated.
func Open(fs vfs.FS, dir string, cfg Config, opts Options) (*Log, error) {
	topic, part, _ := parseLogDirName(lastElem(dir))
	return openLog(fs, dir, cfg, opts, openState{
		recoveryPoint: -1, logStart: -1, hw: -1, cleanedTo: -1, topic: topic, partition: part,
	})
}

func openLog(fs vfs.FS, dir string, cfg Config, opts Options, st openState) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts.fill()
	if st.hc == nil {
		st.hc = newHandleCache(opts.MaxOpenFiles)
	}
	l := &Log{
		fs: fs, dir: dir, topic: st.topic, partition: st.partition,
		clk: opts.Clock, hc: st.hc, cfg: cfg, syncer: st.syncer, onOffline: opts.OnOffline, truncateCorrupt: opts.TruncateCorrupt,
		logger: opts.Logger.With("topic", st.topic, "partition", st.partition),
	}
	l.lso.Store(-1)
	l.held.first.Store(-1)
	l.ps.expiration = opts.ProducerIDExpiration
	l.epochs = newEpochCache(fs, dir, l.leo.Load)
	if err := l.load(st); err != nil {
		l.closeSegments()
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.clk.Now().UnixMilli() }

// Topic returns the topic parsed from the directory name.
func (l *Log) Topic() string { return l.topic }

// Partition returns the partition parsed from the directory name.
func (l *Log) Partition() int32 { return l.partition }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// errIfUnusable reports ErrClosed or ErrLogOffline. l.mu must be held.
func (l *Log) errIfUnusableLocked() error {
	if l.closed {
		return ErrClosed
	}
	if p := l.offline.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrLogOffline, *p)
	}
	return nil
}

// goOffline records the first I/O error (or corrupt batch); the log refuses
// appends from now on.
func (l *Log) goOffline(err error) error {
	if l.offline.CompareAndSwap(nil, &err) {
		l.logger.Error("log offline", "dir", l.dir, "err", err)
		if l.onOffline != nil {
			l.onOffline(l, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrLogOffline, err)
}

// Offline reports whether an I/O error took the log offline.
func (l *Log) Offline() bool { return l.offline.Load() != nil }

// Append appends batches from a producer (the leader path), as
// kafka.log.UnifiedLog.appendAsLeader does: it validates each batch, assigns
// offsets from the log end offset by rewriting the base offsets, stamps the
// partition leader epoch and, for LogAppendTime topics, the timestamp (the
// CRC is recomputed then). The header rewrites happen in place in records,
// which the log does not keep. A batch with an invalid header, CRC or size
// leaves the log unchanged and returns a wrapped record.Err*.
//
// Control batches are accepted (the transaction coordinator's markers come
// this way); the handler rejects them from clients.
//
// With the default flush policy the append is not durable until WaitDurable
// returns for its LastOffset.
func (l *Log) Append(records []byte, leaderEpoch int32) (AppendResult, error) {
	return l.appendLeader(records, leaderEpoch, false)
}

// appendLeader is Append; walked skips the per-record walk of uncompressed
// batches (every batch-level check, CRC included, still runs) for records
// the caller validated with record.Validate: AppendProducer's client
// batches, which the produce handler validated before the producer-state
// checks, in Kafka's order.
func (l *Log) appendLeader(records []byte, leaderEpoch int32, walked bool) (AppendResult, error) {
	var spanBuf [4]batchSpan
	l.mu.RLock()
	maxMsg := l.cfg.MaxMessageBytes
	l.mu.RUnlock()
	spans, err := splitBatches(records, max(maxMsg, 1), false, walked, spanBuf[:0])
	if err != nil {
		return AppendResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.errIfUnusableLocked(); err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{FirstOffset: l.leo.Load(), LogAppendTime: -1, Bytes: len(records)}
	if l.cfg.LogAppendTime {
		res.LogAppendTime = l.nowMs()
	}
	off := res.FirstOffset
	for i := range spans {
		b := records[spans[i].pos:]
		h := &spans[i].h
		record.SetBaseOffset(b, off)
		h.BaseOffset = off
		if leaderEpoch >= 0 {
			record.SetPartitionLeaderEpoch(b, leaderEpoch)
			h.PartitionLeaderEpoch = leaderEpoch
		}
		if l.cfg.LogAppendTime {
			record.SetLogAppendTime(b[:h.Size()], res.LogAppendTime)
			h.MaxTimestamp = res.LogAppendTime
			h.Attributes |= 0x08
		}
		off = h.NextOffset()
		res.NumRecords += int(h.NumRecords)
	}
	res.LastOffset = off - 1
	if err := l.appendLocked(records, spans); err != nil {
		return AppendResult{}, err
	}
	if leaderEpoch >= 0 {
		if err := l.epochs.Assign(leaderEpoch, res.FirstOffset); err != nil {
			return AppendResult{}, l.goOffline(err)
		}
	}
	if l.cfg.durable() {
		l.requestSync()
	}
	return res, l.maybeFlushByCountLocked()
}

// AppendReplicated appends batches fetched from the leader (the follower
// path): offsets are kept. The first batch must start at or after the log
// end offset (later only where the leader's cleaner left a gap), and
// offsets must increase. The partition leader epochs in the batches feed
// the epoch cache. Batches with a producer id update the producer state
// (sequences, transactions, aborted index, last stable offset) as they did
// on the leader, so that this replica can take over idempotence and
// transactions if it becomes leader.
func (l *Log) AppendReplicated(records []byte) (AppendResult, error) {
	var spanBuf [16]batchSpan
	spans, err := splitBatches(records, 0, true, false, spanBuf[:0])
	if err != nil {
		return AppendResult{}, err
	}
	producers := false
	for i := range spans {
		if spans[i].h.ProducerID >= 0 {
			producers = true
			break
		}
	}
	if !producers {
		res, _, err := l.appendReplicated(records, spans)
		return res, err
	}
	ps := &l.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return AppendResult{}, err
	}
	res, appended, err := l.appendReplicated(records, spans)
	if !appended {
		return AppendResult{}, err
	}
	if nb := l.activeBase(); nb != ps.snapBase {
		// The first producer batch in a new segment: the state before this
		// append describes every offset below it (as on the leader).
		l.writeProducerSnapshotLocked(res.FirstOffset)
		ps.snapBase = nb
	}
	if perr := l.applyReplicatedLocked(records, spans); perr != nil && err == nil {
		err = perr
	}
	return res, err
}

// appendReplicated is AppendReplicated without the producer state. It
// reports whether the batches were written: an error after the write (the
// epoch cache, a count-based flush) takes the log offline but the batches
// are in it.
func (l *Log) appendReplicated(records []byte, spans []batchSpan) (AppendResult, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.errIfUnusableLocked(); err != nil {
		return AppendResult{}, false, err
	}
	next := l.leo.Load()
	res := AppendResult{FirstOffset: spans[0].h.BaseOffset, LogAppendTime: -1, Bytes: len(records)}
	for i := range spans {
		h := &spans[i].h
		if h.BaseOffset < next {
			return AppendResult{}, false, fmt.Errorf("%w: batch base offset %d below expected %d", ErrUnexpectedOffset, h.BaseOffset, next)
		}
		next = h.NextOffset()
		res.NumRecords += int(h.NumRecords)
	}
	res.LastOffset = next - 1
	if err := l.appendLocked(records, spans); err != nil {
		return AppendResult{}, false, err
	}
	for i := range spans {
		h := &spans[i].h
		if err := l.epochs.Assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return res, true, l.goOffline(err)
		}
	}
	if l.cfg.durable() {
		l.requestSync()
	}
	return res, true, l.maybeFlushByCountLocked()
}

// appendLocked writes validated batches with final offsets to the active
// segment, rolling first if needed. l.mu must be held.
func (l *Log) appendLocked(records []byte, spans []batchSpan) error {
	first := spans[0].h.BaseOffset
	last := spans[len(spans)-1].h.LastOffset()
	if err := l.maybeRollLocked(int64(len(records)), first, last); err != nil {
		return err
	}
	seg := l.active()
	pos := seg.size
	if _, err := seg.writable().Write(records); err != nil {
		// The bytes past seg.size are ignored and cut by the next recovery.
		return l.goOffline(fmt.Errorf("write segment %s: %w", segmentName(seg.base), err))
	}
	seg.imu.Lock()
	for i := range spans {
		seg.indexBatchLocked(pos+int64(spans[i].pos), &spans[i].h, l.cfg.IndexIntervalBytes)
	}
	seg.imu.Unlock()
	if seg.firstTs < 0 {
		seg.firstTs = spans[0].h.MaxTimestamp
	}
	if seg.verified.Load() == pos {
		seg.verified.Store(pos + int64(len(records))) // splitBatches checked them
	}
	seg.size += int64(len(records))
	seg.next = last + 1
	l.leo.Store(last + 1)
	for i := range spans {
		l.unflushedMsgs += int64(spans[i].h.NumRecords)
	}
	return nil
}

// maybeRollLocked rolls the active segment when an append of size bytes
// covering offsets [first, last] would not fit: segment.bytes, segment.ms,
// a full index, or relative offsets beyond 32 bits. Mirrors
// kafka.log.LogSegment.shouldRoll. l.mu must be held.
func (l *Log) maybeRollLocked(size, first, last int64) error {
	seg := l.active()
	if seg.size == 0 {
		if first != seg.base && (first < seg.base || last-seg.base > math.MaxInt32) {
			// An empty active segment with the wrong base (a follower append
			// after a gap): replace it with one based at first.
			return l.rollLocked(first)
		}
		return nil
	}
	seg.imu.Lock()
	full := seg.indexFullLocked(l.cfg.SegmentIndexBytes)
	seg.imu.Unlock()
	if seg.size+size > l.cfg.SegmentBytes || full || last-seg.base > math.MaxInt32 ||
		l.nowMs()-seg.created >= l.cfg.SegmentMs {
		// The new segment starts at the log end offset, so that every sealed
		// segment ends where the next begins (recovery relies on it), unless
		// a follower's gap is too wide for 32-bit relative offsets.
		base := l.leo.Load()
		if last-base > math.MaxInt32 {
			base = first
		}
		return l.rollLocked(base)
	}
	return nil
}

// rollLocked seals the active segment (final time-index entry, fsync, index
// files) and starts a new one at base: create, fsync the directory. Because
// a sealed segment is always fsynced, only the active segment can hold
// un-fsynced data. l.mu must be held.
func (l *Log) rollLocked(base int64) error {
	old := l.active()
	if old.size > 0 {
		old.imu.Lock()
		old.maybeTimeEntryLocked()
		old.imu.Unlock()
		if err := old.writable().Sync(); err != nil {
			return l.goOffline(fmt.Errorf("sync segment %s: %w", segmentName(old.base), err))
		}
		l.markFlushed(old.next)
		if err := old.writeIndexes(); err != nil {
			return l.goOffline(err)
		}
	}
	seg := newSegment(l.fs, l.dir, base, l.hc)
	f, err := l.fs.Create(seg.path(logSuffix))
	if err != nil {
		return l.goOffline(fmt.Errorf("create segment %s: %w", segmentName(base), err))
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		f.Close()
		return l.goOffline(err)
	}
	seg.next, seg.created, seg.loaded = base, l.nowMs(), true
	seg.setWritable(f)
	if old.size == 0 {
		// Drop the empty segment it replaces.
		l.segs = l.segs[:len(l.segs)-1]
		old.retire()
		if old.base != base {
			l.removeSegmentFiles(old)
		}
	} else {
		old.unpin()
	}
	l.segs = append(l.segs, seg)
	return nil
}

// markFlushed raises the durable offset to off.
func (l *Log) markFlushed(off int64) {
	for {
		cur := l.flushed.Load()
		if off <= cur || l.flushed.CompareAndSwap(cur, off) {
			return
		}
	}
}

// removeSegmentFiles removes a retired segment's files now.
func (l *Log) removeSegmentFiles(s *segment) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(s.path(suf)); err != nil && !isNotExist(err) {
			l.logger.Warn("remove segment file", "file", s.path(suf), "err", err)
		}
	}
}

// Slice is a region of a segment file holding whole batches, ready for
// sendfile. The file stays open (retention, truncation and Delete do not
// close it) until Release.
type Slice struct {
	File     vfs.File // nil when Len is 0
	Pos, Len int64

	seg      *segment
	released atomic.Bool
}

// ReadAll appends the region's bytes to dst.
func (s *Slice) ReadAll(dst []byte) ([]byte, error) {
	if s == nil || s.Len == 0 {
		return dst, nil
	}
	n := len(dst)
	dst = append(dst, make([]byte, s.Len)...)
	m, err := s.File.ReadAt(dst[n:], s.Pos)
	if int64(m) == s.Len {
		return dst, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return dst[:n], fmt.Errorf("read slice: %w", err)
}

// Release gives the file back. It is idempotent.
func (s *Slice) Release() {
	if s == nil || s.seg == nil || !s.released.CompareAndSwap(false, true) {
		return
	}
	s.seg.release()
}

// Read returns whole batches from one segment, starting with the batch that
// contains offset, and ending before the first batch whose last offset is
// >= maxOffset (the high watermark or last stable offset) or that would make
// the region larger than maxBytes. If minOneBatch is set and the first batch
// alone exceeds maxBytes, it is returned anyway (KIP-74). An offset below the
// log start offset or above the log end offset is ErrOffsetOutOfRange; at
// the log end offset the Slice is empty. Mirrors kafka.log.LogSegment.read.
//
// The first read of a segment in a process checks the CRC32C of every batch
// in it not checked yet (scrub.go); a bad batch takes the log offline, and
// an offline log with a corrupt batch serves nothing (ErrLogOffline). An
// error of the file system while reading the segment (EIO) is not
// corruption: it takes the log offline (ErrLogOffline wrapping it,
// Options.OnOffline told) without a marker, checked segment or not.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) (*Slice, error) {
	for try := 1; ; try++ {
		s, job, err := l.read(offset, maxBytes, maxOffset, minOneBatch, try >= readVerifyTries)
		if job.seg == nil {
			return s, err
		}
		if err := l.verify(job, false); err != nil {
			return nil, err
		}
	}
}

// read is Read. When the region found is not checked yet it returns a
// verifyJob instead of a Slice, for Read to run without l.mu, unless
// verifyLocked says to run it here.
func (l *Log) read(offset int64, maxBytes int32, maxOffset int64, minOneBatch, verifyLocked bool) (*Slice, verifyJob, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, verifyJob{}, ErrClosed
	}
	if l.corrupt.Load() {
		return nil, verifyJob{}, fmt.Errorf("%w: %w", ErrLogOffline, ErrCorruptLog)
	}
	leo := l.leo.Load()
	if offset < l.logStart || offset > leo {
		return nil, verifyJob{}, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.logStart, leo)
	}
	if offset == leo || offset >= maxOffset {
		return &Slice{}, verifyJob{}, nil
	}
	i := l.segmentForLocked(offset)
	var hb [record.HeaderSize]byte
	for ; i < len(l.segs); i++ {
		seg := l.segs[i]
		size := seg.size
		f, err := seg.acquire()
		if err != nil {
			return nil, verifyJob{}, l.readFailed(seg, 0, err)
		}
		pos, err := l.locateLocked(seg, f, size, offset, hb[:])
		if err != nil {
			seg.release()
			return nil, verifyJob{}, l.readFailed(seg, 0, err)
		}
		start, end, stop := int64(-1), int64(-1), int64(-1)
		for pos < size {
			h, err := readHeaderAt(f, pos, size, hb[:])
			if errors.Is(err, errSegmentRead) {
				seg.release()
				return nil, verifyJob{}, l.readFailed(seg, pos, err)
			}
			if err != nil {
				stop = pos // a damaged batch: check the segment
				break
			}
			bsize := int64(h.Size())
			if start < 0 {
				if h.LastOffset() < offset {
					pos += bsize
					continue
				}
				start, end = pos, pos
			}
			if h.LastOffset() >= maxOffset {
				break
			}
			if end+bsize-start > int64(maxBytes) && !(end == start && minOneBatch) {
				break
			}
			end = pos + bsize
			pos = end
		}
		if stop >= 0 && stop < seg.verified.Load() {
			// Checked in this process, and damaged since.
			seg.release()
			return nil, verifyJob{}, l.corruptAt(seg, stop)
		}
		if stop >= 0 || end > seg.verified.Load() {
			// The whole rest of the segment, once (scrub.go).
			job := verifyJob{seg: seg, to: size, gen: l.truncGen}
			if !verifyLocked {
				seg.release()
				return nil, job, nil
			}
			if err := l.verify(job, true); err != nil {
				seg.release()
				return nil, verifyJob{}, err
			}
		}
		if start < 0 {
			seg.release()
			continue // offset lies in a gap after this segment's data
		}
		if end == start {
			seg.release()
			return &Slice{}, verifyJob{}, nil
		}
		return &Slice{File: f, Pos: start, Len: end - start, seg: seg}, verifyJob{}, nil
	}
	return &Slice{}, verifyJob{}, nil
}

// segmentForLocked returns the index of the segment whose base is the
// largest <= offset (0 if none). l.mu must be held.
func (l *Log) segmentForLocked(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// locateLocked returns a position in seg at or before the batch holding
// offset, from the sparse index. An index entry that does not match the
// batch it points at means a corrupt index: it is rebuilt from the log.
// l.mu must be held (read).
func (l *Log) locateLocked(seg *segment, f vfs.File, size, offset int64, hb []byte) (int64, error) {
	if err := seg.ensureIndexes(size, l.cfg.IndexIntervalBytes); err != nil {
		return 0, err
	}
	seg.imu.Lock()
	defer seg.imu.Unlock()
	rel := offset - seg.base
	i := sort.Search(len(seg.idx), func(i int) bool { return int64(seg.idx[i].rel) > rel })
	if i == 0 {
		return 0, nil
	}
	e := seg.idx[i-1]
	h, err := readHeaderAt(f, int64(e.pos), size, hb)
	if err == nil && h.LastOffset() == seg.base+int64(e.rel) {
		return int64(e.pos), nil
	}
	if errors.Is(err, errSegmentRead) {
		return 0, err // the file system failed, not the index
	}
	l.logger.Warn("offset index does not match log, rebuilding", "segment", segmentName(seg.base))
	seg.loaded = false
	if err := seg.rebuildIndexesLocked(size, l.cfg.IndexIntervalBytes); err != nil {
		return 0, err
	}
	return lookupOffset(seg.idx, rel), nil
}

// readHeaderAt reads and parses the batch header at pos, checking that the
// batch fits below size. An error of the file system (EIO) is wrapped in
// errSegmentRead: it says nothing about the bytes in the file.
func readHeaderAt(f vfs.File, pos, size int64, hb []byte) (record.Header, error) {
	if size-pos < record.HeaderSize {
		return record.Header{}, record.ErrTruncated
	}
	n, err := f.ReadAt(hb[:record.HeaderSize], pos)
	if n < record.HeaderSize {
		if err == nil {
			err = io.ErrUnexpectedEOF
		} else if !errors.Is(err, io.EOF) {
			err = &headerReadError{pos: pos, err: err}
		}
		return record.Header{}, err
	}
	h, err := record.ParseHeader(hb)
	if err != nil {
		return h, err
	}
	if int64(h.Size()) > size-pos || h.LastOffsetDelta < 0 {
		return h, record.ErrTruncated
	}
	return h, nil
}

// LogStartOffset returns the first offset a consumer may read.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset returns the offset the next record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark returns the high watermark the broker set.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark sets the high watermark, clamped to [log start, LEO].
// Transactions whose marker it passed stop holding the last stable offset.
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.RLock()
	hw = min(max(hw, l.logStart), l.leo.Load())
	l.mu.RUnlock()
	l.hw.Store(hw)
	l.held.release(hw)
}

// LastStableOffset returns the last stable offset: the first offset of the
// oldest transaction that is open, or whose marker is not yet below the
// high watermark; the high watermark if there is none.
func (l *Log) LastStableOffset() int64 {
	lso := l.hw.Load()
	if v := l.lso.Load(); v >= 0 {
		lso = min(v, lso)
	}
	if v := l.held.first.Load(); v >= 0 {
		lso = min(v, lso)
	}
	return lso
}

// SetLastStableOffset sets the last stable offset (transactions). A
// negative value makes it follow the high watermark again.
func (l *Log) SetLastStableOffset(lso int64) { l.lso.Store(max(lso, -1)) }

// Size returns the bytes of the log's segments (DescribeLogDirs).
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// LeaderEpochs returns the leader-epoch cache.
func (l *Log) LeaderEpochs() *EpochCache { return l.epochs }

// Config returns the log's configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig changes the configuration (dynamic topic config). New segment
// and index limits apply from the next append.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
	return nil
}

// Truncate removes every record at or after offset (a follower diverging
// from its leader). The log ends at the start of the batch holding offset
// (batches are never split). Later segments are removed first and the cut
// is fsynced, so a crash never brings truncated data back. Mirrors
// kafka.log.UnifiedLog.truncateTo.
//
// The producer state is then rebuilt from the newest snapshot at or below
// the new end and the log after it; later snapshots and aborted-index
// entries of removed batches are deleted. When the whole log goes, so does
// all producer state (a snapshot exactly at the new end excepted: it
// describes the offsets below, which the leader's log holds too).
func (l *Log) Truncate(offset int64) error {
	l.ps.mu.Lock()
	defer l.ps.mu.Unlock()
	before := l.LogEndOffset()
	full, err := l.truncate(offset)
	if full < 0 {
		return err
	}
	// Every cut is logged (rare, and what a lost-write diagnosis needs).
	l.logger.Info("log truncated", "offset", offset, "log_end_before", before, "log_end", l.LogEndOffset(),
		"whole_log", full == 1, "err", err)
	if err != nil {
		l.ps.loaded = false // offline; rebuild if anything reads the state
		return err
	}
	end := l.LogEndOffset()
	return l.resetProducerStateLocked(func(snap int64) bool {
		return snap <= end && (full == 0 || snap == end)
	})
}

// truncate is Truncate without the producer state. It returns -1 if nothing
// was cut, 1 if the whole log was, 0 otherwise.
func (l *Log) truncate(offset int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.errIfUnusableLocked(); err != nil {
		return -1, err
	}
	if offset >= l.leo.Load() {
		return -1, nil
	}
	if offset < 0 {
		return -1, fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if offset <= l.segs[0].base || offset < l.logStart {
		return 1, l.truncateFullyLocked(offset)
	}
	i := l.segmentForLocked(offset)
	// Remove the later segments first, newest first.
	for j := len(l.segs) - 1; j > i; j-- {
		s := l.segs[j]
		l.segs = l.segs[:j]
		s.retire()
		if err := l.trashSegmentLocked(s, 0); err != nil {
			return 0, l.goOffline(err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return 0, l.goOffline(err)
	}
	seg := l.segs[i]
	f, err := seg.acquire()
	if err != nil {
		return 0, l.readFailed(seg, 0, err)
	}
	var hb [record.HeaderSize]byte
	pos, err := l.locateLocked(seg, f, seg.size, offset, hb[:])
	next := seg.base
	for err == nil && pos < seg.size {
		h, herr := readHeaderAt(f, pos, seg.size, hb[:])
		if errors.Is(herr, errSegmentRead) {
			err = herr // never cut where a read failed: kept data may follow
			break
		}
		if herr != nil || h.LastOffset() >= offset {
			break
		}
		pos += int64(h.Size())
		next = h.NextOffset()
	}
	if err == nil && pos > 0 && next == seg.base {
		// The index skipped batches: find the next offset of the batch
		// before pos by scanning (rare; only when the first kept batch was
		// found through an index entry).
		next, err = l.nextOffsetAt(seg, f, pos)
	}
	seg.release()
	if errors.Is(err, errSegmentRead) {
		return 0, l.readFailed(seg, pos, err)
	}
	if err != nil {
		return 0, l.goOffline(err)
	}
	return 0, l.cutActiveLocked(i, pos, next)
}

// nextOffsetAt scans seg to find the offset following the batch that ends at
// pos.
func (l *Log) nextOffsetAt(seg *segment, f vfs.File, pos int64) (int64, error) {
	br := newBlockReader(f, pos)
	_, next, _, err := scanBatches(br, 0, scanOpts{base: seg.base, minNext: seg.base}, nil)
	return next, err
}

// cutActiveLocked makes segs[i] the active segment, cut to size with its
// last batch ending before next. l.mu must be held.
func (l *Log) cutActiveLocked(i int, size, next int64) error {
	seg := l.segs[i]
	var f vfs.File
	seg.fmu.Lock()
	pinned := seg.pinned
	if pinned {
		f = seg.f
	}
	seg.fmu.Unlock()
	if !pinned {
		var err error
		if f, err = l.fs.OpenAppend(seg.path(logSuffix)); err != nil {
			return l.goOffline(fmt.Errorf("open segment %s: %w", segmentName(seg.base), err))
		}
	}
	if err := f.Truncate(size); err != nil {
		return l.goOffline(fmt.Errorf("truncate segment %s: %w", segmentName(seg.base), err))
	}
	if err := f.Sync(); err != nil {
		return l.goOffline(fmt.Errorf("sync segment %s: %w", segmentName(seg.base), err))
	}
	if !pinned {
		// A sealed segment becomes active: give it a fresh segment object
		// with the writable handle, and retire the old one, whose read
		// handle may still be in use by a Slice.
		ns := newSegment(l.fs, l.dir, seg.base, l.hc)
		ns.firstTs = seg.firstTs
		ns.verified.Store(min(seg.verified.Load(), size))
		ns.setWritable(f)
		l.segs[i] = ns
		seg.retire()
		seg = ns
	}
	seg.size, seg.next = size, next
	seg.verified.Store(min(seg.verified.Load(), size))
	seg.created = l.nowMs()
	seg.imu.Lock()
	seg.loaded = false
	err := seg.rebuildIndexesLocked(size, l.cfg.IndexIntervalBytes)
	seg.imu.Unlock()
	if err != nil {
		return l.goOffline(err)
	}
	l.truncGen++
	l.leo.Store(next)
	l.flushed.Store(next)
	l.unflushedMsgs = 0
	l.afterTruncateLocked(next)
	if _, err := l.epochs.truncateFromEnd(next); err != nil {
		return l.goOffline(err)
	}
	return nil
}

func (l *Log) afterTruncateLocked(leo int64) {
	if l.hw.Load() > leo {
		l.hw.Store(leo)
	}
	if v := l.lso.Load(); v > leo {
		l.lso.Store(leo)
	}
	l.cleanedTo = min(l.cleanedTo, leo)
}

// truncateFullyLocked deletes every segment and starts an empty log at
// offset (Kafka truncateFullyAndStartAt). l.mu must be held.
func (l *Log) truncateFullyLocked(offset int64) error {
	for j := len(l.segs) - 1; j >= 0; j-- {
		s := l.segs[j]
		s.retire()
		if err := l.trashSegmentLocked(s, 0); err != nil {
			return l.goOffline(err)
		}
	}
	l.segs = l.segs[:0]
	seg := newSegment(l.fs, l.dir, offset, l.hc)
	f, err := l.fs.Create(seg.path(logSuffix))
	if err != nil {
		return l.goOffline(fmt.Errorf("create segment %s: %w", segmentName(offset), err))
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		f.Close()
		return l.goOffline(err)
	}
	seg.next, seg.created, seg.loaded = offset, l.nowMs(), true
	seg.setWritable(f)
	l.segs = append(l.segs, seg)
	l.truncGen++
	l.logStart = offset
	l.leo.Store(offset)
	l.flushed.Store(offset)
	l.unflushedMsgs = 0
	l.hw.Store(offset)
	l.afterTruncateLocked(offset)
	if _, err := l.epochs.truncateFromEnd(offset); err != nil {
		return l.goOffline(err)
	}
	return nil
}

// trashSegmentLocked renames a retired segment's files to .deleted, to be
// removed after delayMs (file.delete.delay.ms). l.mu must be held.
func (l *Log) trashSegmentLocked(s *segment, delayMs int64) error {
	var paths []string
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		p := s.path(suf)
		if err := l.fs.Rename(p, p+deletedSuffix); err != nil {
			if isNotExist(err) {
				continue
			}
			return fmt.Errorf("rename %s: %w", p, err)
		}
		paths = append(paths, p+deletedSuffix)
	}
	l.trash = append(l.trash, trash{paths: paths, at: l.nowMs() + delayMs})
	return nil
}

// sweepTrash removes .deleted files whose delay has passed.
func (l *Log) sweepTrash(now int64) {
	l.mu.Lock()
	var due []string
	kept := l.trash[:0]
	for _, t := range l.trash {
		if t.at <= now {
			due = append(due, t.paths...)
		} else {
			kept = append(kept, t)
		}
	}
	l.trash = kept
	l.mu.Unlock()
	for _, p := range due {
		if err := l.fs.Remove(p); err != nil && !isNotExist(err) {
			l.logger.Warn("remove deleted segment file", "file", p, "err", err)
		}
	}
}

// DeleteRecordsBefore raises the log start offset to offset (the
// DeleteRecords API) and deletes segments wholly below it. It returns the
// new log start offset. offset must not exceed the high watermark.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.errIfUnusableLocked(); err != nil {
		return 0, err
	}
	if offset > l.hw.Load() || offset < 0 {
		return l.logStart, fmt.Errorf("%w: delete records before %d, high watermark %d", ErrOffsetOutOfRange, offset, l.hw.Load())
	}
	if offset <= l.logStart {
		return l.logStart, nil
	}
	l.logStart = offset
	if err := l.deleteSegmentsLocked(func(int, *segment) bool { return false }); err != nil {
		return l.logStart, err
	}
	if err := l.epochs.truncateFromStart(offset); err != nil {
		return l.logStart, l.goOffline(err)
	}
	return l.logStart, nil
}

// deleteSegmentsLocked deletes, oldest first, the sealed segments wholly
// below the log start offset and then those for which extra says so, stopping
// at the first that stays. It never deletes the active segment. l.mu must be
// held.
func (l *Log) deleteSegmentsLocked(extra func(i int, s *segment) bool) error {
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		if l.segs[n+1].base <= l.logStart || extra(n, s) {
			n++
			continue
		}
		break
	}
	if n == 0 {
		return nil
	}
	gone := l.segs[:n]
	for _, s := range gone {
		s.retire()
		if err := l.trashSegmentLocked(s, l.cfg.FileDeleteDelayMs); err != nil {
			return l.goOffline(err)
		}
	}
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.logStart = max(l.logStart, l.segs[0].base)
	if l.hw.Load() < l.logStart {
		l.hw.Store(l.logStart)
	}
	return nil
}

// Close flushes, writes the active segment's indexes and closes the files.
// Slices still held keep their files open until released.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.offline.Load() == nil {
		seg := l.active()
		if serr := seg.writable().Sync(); serr != nil {
			err = l.goOffline(fmt.Errorf("sync segment %s: %w", segmentName(seg.base), serr))
		} else {
			l.markFlushed(l.leo.Load())
			seg.imu.Lock()
			seg.maybeTimeEntryLocked()
			seg.imu.Unlock()
			if werr := seg.writeIndexes(); werr != nil {
				err = werr
			}
		}
	}
	l.closed = true
	l.closeSegments()
	return err
}

func (l *Log) closeSegments() {
	for _, s := range l.segs {
		s.retire()
	}
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.mu.Lock()
	l.closed = true
	l.closeSegments()
	l.mu.Unlock()
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("remove log dir %s: %w", l.dir, err)
	}
	return syncDir(l.fs, parentDir(l.dir))
}
