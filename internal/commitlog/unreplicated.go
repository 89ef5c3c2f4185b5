package commitlog

import (
	"sync"
	"sync/atomic"
)

// heldTxns are a log's transactions whose marker is in the log but not yet
// below the high watermark: they hold the last stable offset at their first
// offset until the high watermark passes the marker. Mirrors Kafka's
// ProducerStateManager.unreplicatedTxns (completeTxn, onHighWatermarkUpdated).
//
// Without it the last stable offset jumps past a transaction as soon as its
// marker is appended, before the marker is committed: a read_committed
// fetch then decides the transaction's records below the high watermark by
// a marker that may still be truncated away. A stale leader (or a leader
// that will lose the marker) that appends a later transaction's marker for
// a producer whose previous marker it never got closes that earlier
// transaction with the wrong outcome — an abort hides committed records
// (they join the aborted index from their first offset), a commit shows
// aborted ones (docs/reliability.md, F19).
//
// mu is a leaf lock: taken under Log.ps.mu or with nothing held, never
// before another lock. first is readable without it.
type heldTxns struct {
	mu   sync.Mutex
	txns []heldTxn // guarded by mu; in marker order
	// first is the smallest first offset in txns, -1 when empty.
	first atomic.Int64
}

// heldTxn is a closed transaction: its first offset and its marker's.
type heldTxn struct {
	first, marker int64
}

// hold records a transaction closed by a marker at offset marker, unless
// the high watermark hw already passed the marker.
func (h *heldTxns) hold(first, marker, hw int64) {
	if first < 0 || marker < hw {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.txns = append(h.txns, heldTxn{first, marker})
	h.setFirstLocked()
}

// release drops the transactions whose marker is below hw.
func (h *heldTxns) release(hw int64) {
	if h.first.Load() < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.txns[:0]
	for _, t := range h.txns {
		if t.marker >= hw {
			kept = append(kept, t)
		}
	}
	h.txns = kept
	h.setFirstLocked()
}

// clear drops every transaction (the producer state is being rebuilt).
func (h *heldTxns) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.txns = h.txns[:0]
	h.setFirstLocked()
}

// setFirstLocked recomputes first. h.mu must be held.
func (h *heldTxns) setFirstLocked() {
	first := int64(-1)
	for _, t := range h.txns {
		if first < 0 || t.first < first {
			first = t.first
		}
	}
	h.first.Store(first)
}

// holdLocked holds the open transaction of producer pid, which a marker at
// offset marker is about to close, until the high watermark passes the
// marker. Call it before the marker is applied to the producer state, so
// that the last stable offset never moves past the transaction meanwhile.
// l.ps.mu must be held.
func (l *Log) holdLocked(pid, marker int64) {
	if e := l.ps.producers[pid]; e != nil {
		l.held.hold(e.txnFirstOffset, marker, l.hw.Load())
	}
}
