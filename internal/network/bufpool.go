package network

import (
	"math/bits"
	"sync"
)

// Large buffers (responses and copied record bytes above 1 MiB) are shared
// by all connections through size-class pools instead of being pinned per
// connection or reallocated per response. Smaller buffers stay with their
// connection's worker.
const (
	minPooled = 1 << 20
	maxPooled = 64 << 20
)

var bufPools [27]sync.Pool // index: log2 of the capacity, up to maxPooled

// getBuf returns an empty buffer with capacity at least n, from the pool
// when n is in the pooled range.
func getBuf(n int) []byte {
	if n <= minPooled || n > maxPooled {
		return make([]byte, 0, n)
	}
	class := bits.Len(uint(n - 1)) // capacity 1<<class ≥ n
	if p, ok := bufPools[class].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<class)
}

// putBuf gives a buffer back; small and odd-sized ones are dropped.
func putBuf(b []byte) {
	c := cap(b)
	if c < minPooled || c > maxPooled || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	bufPools[bits.Len(uint(c))-1].Put(&b)
}
