package commitlog

import (
	"sync"
)

// DefaultSyncWorkers is how many fsyncs a Manager's syncer runs at once
// (Options.SyncWorkers). fsync blocks a thread in the kernel, not a core:
// concurrent fsyncs of different files on ext4/xfs join one journal commit,
// so a few in flight cost about as much as one.
const DefaultSyncWorkers = 8

// syncRound is one fsync of one log. done is closed when it ends; err (set
// before done is closed) is its error; target is the log end offset read
// when it started: every offset below it is covered if err is nil.
type syncRound struct {
	done   chan struct{}
	err    error
	target int64
}

func newSyncRound() *syncRound { return &syncRound{done: make(chan struct{})} }

// syncer is a Manager's broker-wide durability path: group commit across
// partitions. A log with un-fsynced appends is queued once (however many
// appends and waiters it has), and a bounded pool of workers fsyncs the
// queued logs, so that many partitions' batches share a round and their
// fsyncs run concurrently instead of one after another in the produce
// handler. Waiters of a log queued while its fsync runs share the next one.
//
// Queue policy: a log is queued only when it gets a pending round and has
// none running; a waiter may take a queued round before a worker does
// (roundFor), leaving a stale entry that the worker skips. So a log has at
// most one live entry plus one stale entry per such take in flight; the
// queue is bounded by the number of logs and of waiters, and enqueue never
// blocks.
//
// Goroutines: Manager.Run starts the workers (start) and joins them (stop).
// When no worker runs (before Run, after it, standalone logs) a waiter
// leads the fsync of its log itself (WaitDurable), as before the syncer.
//
// Lock order: Log.mu → Log.smu → syncer.mu.
type syncer struct {
	workers int
	wg      sync.WaitGroup // the running workers
	wake    chan struct{}  // 1-buffered: the queue may be non-empty
	quit    chan struct{}  // closed by stop: drain the queue and exit

	mu      sync.Mutex
	queue   []*Log // guarded by mu: logs with a pending round, FIFO
	running bool   // guarded by mu: workers accept new logs
}

func newSyncer(workers int) *syncer {
	if workers <= 0 {
		workers = DefaultSyncWorkers
	}
	return &syncer{workers: workers, wake: make(chan struct{}, 1)}
}

// start starts the workers. It reports false if they already run.
func (s *syncer) start() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return false
	}
	s.running = true
	s.quit = make(chan struct{})
	for range s.workers {
		s.wg.Add(1)
		go s.work(s.quit)
	}
	return true
}

// stop stops accepting logs, lets the workers drain the queue and waits for
// them.
func (s *syncer) stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	close(s.quit)
	s.mu.Unlock()
	s.wg.Wait()
}

// enqueue queues l for an fsync. Unless force is set it refuses (false)
// when the workers are stopped; force is for a worker re-queueing a log it
// just synced, which the draining workers still serve. l.smu must be held.
func (s *syncer) enqueue(l *Log, force bool) bool {
	s.mu.Lock()
	if !s.running && !force {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, l)
	s.mu.Unlock()
	s.signal()
	return true
}

func (s *syncer) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued log, or nil.
func (s *syncer) pop() *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	l := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0] // let the backing array go after a burst
	} else {
		// More work: wake another worker (a wake-up is consumed by one).
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return l
}

// work is a worker: it fsyncs queued logs until quit is closed and the
// queue is empty.
func (s *syncer) work(quit chan struct{}) {
	defer s.wg.Done()
	for {
		if l := s.pop(); l != nil {
			l.runQueuedRound()
			continue
		}
		select {
		case <-s.wake:
		case <-quit:
			if l := s.pop(); l != nil {
				l.runQueuedRound()
				continue
			}
			return
		}
	}
}
