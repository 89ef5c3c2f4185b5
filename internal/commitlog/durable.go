package commitlog

import (
	"context"
	"fmt"
)

// Durable reports whether the flush policy is Kavka's default, where an
// append is acknowledged only after WaitDurable (flush.messages and
// flush.ms unset).
func (l *Log) Durable() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg.durable()
}

// DurableOffset returns the recovery point: every offset below it is fsynced.
func (l *Log) DurableOffset() int64 { return l.flushed.Load() }

// WaitDurable returns once offset (inclusive) is fsynced, or ctx is done.
//
// Group commit: all appends made before an fsync starts share it, and the
// waiters that arrive while it runs share the next one. Under a running
// Manager the fsync is queued on the Manager's syncer (syncer.go), which
// fsyncs many logs concurrently; a durable log queues itself on every
// append, so the fsync often runs before anyone waits. Otherwise (a
// standalone log, or before Manager.Run), as in pebble, the first waiter
// that finds no fsync running becomes the leader and fsyncs on its own
// goroutine. No goroutine runs per log. An offset at or beyond the log end
// offset (never appended, or truncated away) is ErrOffsetOutOfRange; after
// an fsync failure every call returns ErrLogOffline, because what the
// kernel dropped cannot be known.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	// Each round either returns or waits for one fsync, and the second
	// fsync that starts after the call began covers everything appended
	// before it. A round may also end without an fsync when the syncer
	// stops, hence 8 rather than 4.
	for range 8 {
		if offset < l.flushed.Load() {
			return nil
		}
		if p := l.offline.Load(); p != nil {
			return fmt.Errorf("%w: %w", ErrLogOffline, *p)
		}
		if offset >= l.leo.Load() {
			return fmt.Errorf("%w: wait for offset %d, log end offset %d", ErrOffsetOutOfRange, offset, l.leo.Load())
		}
		r, lead := l.roundFor(offset)
		if lead {
			l.runRound(r, false)
		}
		select {
		case <-r.done:
			if r.err != nil {
				return r.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if offset < l.flushed.Load() {
		return nil
	}
	return fmt.Errorf("commitlog: offset %d not durable after 8 group commits", offset)
}

// roundFor returns the fsync round to wait for so that offset becomes
// durable: the running one if it covers offset, else the next one, queued
// on the syncer or, when no syncer runs, led by the caller (lead).
func (l *Log) roundFor(offset int64) (r *syncRound, lead bool) {
	l.smu.Lock()
	defer l.smu.Unlock()
	if r := l.syncing; r != nil && (offset < r.target || l.syncer == nil) {
		// Without a syncer, wait for the running fsync even if it does not
		// cover offset, then lead the next one (pebble's group commit).
		return r, false
	}
	if r := l.pending; r != nil {
		if l.syncing == nil {
			// Queued but not started: lead it here rather than wait for a
			// worker to wake up (a handoff that cost single-partition
			// produce 10-20%). The log's queue entry then finds no pending
			// round, or a later one, when a worker pops it.
			l.pending = nil
			r.target = l.leo.Load()
			l.syncing = r
			return r, true
		}
		return r, false
	}
	r = newSyncRound()
	if l.syncing != nil {
		// Queued when the running fsync ends (runRound).
		l.pending = r
		return r, false
	}
	if l.syncer != nil && l.syncer.enqueue(l, false) {
		l.pending = r
		return r, false
	}
	r.target = l.leo.Load()
	l.syncing = r
	return r, true
}

// requestSync queues an fsync of everything appended so far on the
// syncer, without waiting (called after each append of a durable log, so
// that the fsync starts before the producer's request waits for it). It
// does nothing without a running syncer. l.mu may be held.
func (l *Log) requestSync() {
	if l.syncer == nil {
		return
	}
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.pending != nil {
		return
	}
	if l.syncing != nil {
		l.pending = newSyncRound() // queued when the running fsync ends
		return
	}
	if l.syncer.enqueue(l, false) {
		l.pending = newSyncRound()
	}
}

// runQueuedRound runs the pending round of a log taken from the syncer's
// queue (a syncer worker).
func (l *Log) runQueuedRound() {
	l.smu.Lock()
	r := l.pending
	if r == nil || l.syncing != nil {
		// A stale entry: a waiter took the round (roundFor). A round that
		// became pending since is queued again when the running one ends.
		l.smu.Unlock()
		return
	}
	l.pending = nil
	r.target = l.leo.Load()
	l.syncing = r
	l.smu.Unlock()
	l.runRound(r, true)
}

// SetOnDurable sets fn to be called, without locks, each time an fsync
// round of the group commit (WaitDurable, the Manager's syncer) has raised
// the durable offset, on the goroutine that ran the fsync and before the
// round's waiters are woken. The replica layer uses it to serve followers
// and advance the high watermark the moment the leader's data is durable,
// instead of when a waiting produce request gets to run. nil removes it.
// fn must be quick and must not wait for this log's durability.
func (l *Log) SetOnDurable(fn func()) {
	if fn == nil {
		l.onDurable.Store(nil)
		return
	}
	l.onDurable.Store(&fn)
}

// runRound runs round r, which the caller made l.syncing: it fsyncs, tells
// the onDurable hook, wakes r's waiters and hands a round that became
// pending meanwhile to the syncer (worker: the caller is a syncer worker,
// which drains the queue even while stopping). Without a running syncer
// that pending round ends without an fsync; its waiters then lead one
// themselves.
func (l *Log) runRound(r *syncRound, worker bool) {
	before := l.flushed.Load()
	err := l.syncActive()
	if fn := l.onDurable.Load(); fn != nil && err == nil && l.flushed.Load() > before {
		(*fn)()
	}
	l.smu.Lock()
	defer l.smu.Unlock()
	r.err = err
	l.syncing = nil
	close(r.done)
	if next := l.pending; next != nil {
		if l.syncer != nil && l.syncer.enqueue(l, worker) {
			return
		}
		l.pending = nil
		close(next.done)
	}
}

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error {
	leo := l.leo.Load()
	if leo <= l.flushed.Load() {
		return nil
	}
	return l.WaitDurable(context.Background(), leo-1)
}

// syncActive fsyncs the active segment outside l.mu and raises the durable
// offset to the log end offset seen before the fsync. A truncation during
// the fsync discards the result (the truncation itself fsyncs).
func (l *Log) syncActive() error {
	l.mu.RLock()
	if err := l.errIfUnusableLocked(); err != nil {
		l.mu.RUnlock()
		return err
	}
	seg := l.active()
	target := l.leo.Load()
	if target <= l.flushed.Load() {
		// Already durable (a roll, flush.messages or an earlier round): a
		// round queued on append often finds its bytes fsynced by now.
		l.mu.RUnlock()
		return nil
	}
	gen := l.truncGen
	f, err := seg.acquire()
	l.mu.RUnlock()
	if err != nil {
		return l.goOffline(err)
	}
	err = f.Sync()
	seg.release()
	if err != nil {
		return l.goOffline(fmt.Errorf("sync segment %s: %w", segmentName(seg.base), err))
	}
	l.mu.Lock()
	if l.truncGen == gen {
		l.markFlushed(target)
		l.unflushedMsgs = 0
		l.lastFlushMs = l.nowMs()
	}
	l.mu.Unlock()
	return nil
}

// maybeFlushByCountLocked applies flush.messages: fsync once that many
// records are unflushed. l.mu must be held.
func (l *Log) maybeFlushByCountLocked() error {
	if l.cfg.FlushMessages <= 0 || l.unflushedMsgs < l.cfg.FlushMessages {
		return nil
	}
	seg := l.active()
	if err := seg.writable().Sync(); err != nil {
		return l.goOffline(fmt.Errorf("sync segment %s: %w", segmentName(seg.base), err))
	}
	l.markFlushed(l.leo.Load())
	l.unflushedMsgs = 0
	l.lastFlushMs = l.nowMs()
	return nil
}

// maybeFlushByTime applies flush.ms (called by Manager.Run).
func (l *Log) maybeFlushByTime(now int64) error {
	l.mu.RLock()
	due := !l.closed && l.cfg.FlushMs > 0 && now-l.lastFlushMs >= l.cfg.FlushMs && l.flushed.Load() < l.leo.Load()
	l.mu.RUnlock()
	if !due {
		return nil
	}
	return l.Flush()
}
