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
// Group commit, as in pebble: the first waiter that finds no fsync running
// becomes the leader, fsyncs everything appended so far, and wakes everyone
// waiting; waiters that arrive during an fsync wait for it and, if it did
// not cover them, for the next one, led by one of them. No goroutine runs
// per log. An offset at or beyond the log end offset (never appended, or
// truncated away) is ErrOffsetOutOfRange; after an fsync failure every call
// returns ErrLogOffline, because what the kernel dropped cannot be known.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	// Each round either returns or waits for one fsync; the third fsync after
	// the call began covers everything appended before it, so 4 rounds bound it.
	for range 4 {
		if offset < l.flushed.Load() {
			return nil
		}
		if p := l.offline.Load(); p != nil {
			return fmt.Errorf("%w: %w", ErrLogOffline, *p)
		}
		if offset >= l.leo.Load() {
			return fmt.Errorf("%w: wait for offset %d, log end offset %d", ErrOffsetOutOfRange, offset, l.leo.Load())
		}
		l.smu.Lock()
		if l.syncing {
			ch := l.syncDone
			l.smu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.syncing = true
		ch := make(chan struct{})
		l.syncDone = ch
		l.smu.Unlock()

		err := l.syncActive()

		l.smu.Lock()
		l.syncing = false
		close(ch)
		l.smu.Unlock()
		if err != nil {
			return err
		}
	}
	if offset < l.flushed.Load() {
		return nil
	}
	return fmt.Errorf("commitlog: offset %d not durable after 4 group commits", offset)
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
