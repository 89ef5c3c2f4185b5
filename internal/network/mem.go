package network

import "sync"

// memPool bounds the bytes of requests read but not yet answered, across
// all connections: Kafka's queued.max.request.bytes (its MemoryPool). A
// reader that would exceed it stops reading its socket (the connection is
// muted, so TCP pushes back on the client) until requests are answered.
//
// Like Kafka's non-strict pool, a request is admitted whenever nothing is
// in use, so that one request larger than the limit (but within
// socket.request.max.bytes) still gets through instead of deadlocking.
type memPool struct {
	limit int64 // ≤ 0: unbounded

	mu sync.Mutex
	// The fields below are guarded by mu.
	used    int64
	waiters int
	wake    chan struct{} // closed on release when someone waits; then replaced
}

func newMemPool(limit int64) *memPool {
	return &memPool{limit: limit, wake: make(chan struct{})}
}

// acquire takes n bytes, waiting while they do not fit. It returns false,
// holding nothing, if stop is closed first.
func (p *memPool) acquire(n int64, stop <-chan struct{}) bool {
	p.mu.Lock()
	for p.limit > 0 && p.used > 0 && p.used+n > p.limit {
		w := p.wake
		p.waiters++
		p.mu.Unlock()
		select {
		case <-w:
		case <-stop:
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
			return false
		}
		p.mu.Lock()
		p.waiters--
	}
	p.used += n
	p.mu.Unlock()
	return true
}

// release gives back n bytes taken by acquire and wakes the waiters.
func (p *memPool) release(n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	if p.used < 0 {
		p.mu.Unlock()
		panic("BUG: request memory released twice")
	}
	if p.waiters > 0 {
		close(p.wake)
		p.wake = make(chan struct{})
	}
	p.mu.Unlock()
}

// stats returns the bytes in use and the number of muted readers.
func (p *memPool) stats() (used int64, waiters int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.waiters
}
