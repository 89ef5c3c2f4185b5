package purgatory

import (
	"context"
	"sync"
	"time"
)

// Purgatory indexes watchers by key. The zero value is not usable; use New.
// It is safe for concurrent use.
type Purgatory[K comparable] struct {
	mu sync.Mutex
	// watchers is guarded by mu.
	watchers map[K]map[*Watcher[K]]struct{}
}

// New returns an empty Purgatory.
func New[K comparable]() *Purgatory[K] {
	return &Purgatory[K]{watchers: make(map[K]map[*Watcher[K]]struct{})}
}

// Watcher is woken when any of its keys is notified. Wake-ups coalesce: C
// holds at most one.
type Watcher[K comparable] struct {
	p    *Purgatory[K]
	keys []K
	c    chan struct{}
}

// Watch registers a watcher on keys. Register before checking the condition
// the watcher waits for, so that a notification between check and wait is
// not lost. Stop it when done.
func (p *Purgatory[K]) Watch(keys ...K) *Watcher[K] {
	w := &Watcher[K]{p: p, keys: keys, c: make(chan struct{}, 1)}
	p.mu.Lock()
	for _, k := range keys {
		set := p.watchers[k]
		if set == nil {
			set = make(map[*Watcher[K]]struct{})
			p.watchers[k] = set
		}
		set[w] = struct{}{}
	}
	p.mu.Unlock()
	return w
}

// C receives a value after a notification of one of the watcher's keys.
func (w *Watcher[K]) C() <-chan struct{} { return w.c }

// Stop unregisters the watcher. It is safe to call more than once.
func (w *Watcher[K]) Stop() {
	w.p.mu.Lock()
	for _, k := range w.keys {
		set := w.p.watchers[k]
		delete(set, w)
		if len(set) == 0 {
			delete(w.p.watchers, k)
		}
	}
	w.p.mu.Unlock()
}

// Notify wakes every watcher of key. It never blocks.
func (p *Purgatory[K]) Notify(key K) {
	p.mu.Lock()
	for w := range p.watchers[key] {
		select {
		case w.c <- struct{}{}:
		default: // already woken
		}
	}
	p.mu.Unlock()
}

// Watching returns how many watchers are registered on key, for tests and
// metrics.
func (p *Purgatory[K]) Watching(key K) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watchers[key])
}

// Await is the delayed-operation loop: it calls try, and while try reports
// false, waits for a notification of one of keys and calls try again. It
// returns true as soon as try does, or false when timeout passes or ctx is
// done (the operation expired; the caller answers with what it has).
// The number of tries is bounded by the number of notifications within
// timeout.
func (p *Purgatory[K]) Await(ctx context.Context, timeout time.Duration, keys []K, try func() bool) bool {
	if timeout <= 0 || len(keys) == 0 {
		return try()
	}
	w := p.Watch(keys...)
	defer w.Stop()
	if try() {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-w.C():
			if try() {
				return true
			}
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
