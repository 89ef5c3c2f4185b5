package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// Record is one key/value record of an internal topic. A nil Value is a
// tombstone: compaction eventually removes every earlier record with the same
// key, and replay treats it as a deletion.
type Record struct {
	Key   []byte
	Value []byte
}

// Log is one partition of an internal topic as a coordinator shard sees it.
//
// Append must be called by one goroutine at a time per Log (the shard's
// owner); WaitDurable and Replay may be called concurrently with it.
type Log interface {
	// Append writes recs, in order, as one batch. It returns the offset of
	// the last record once the batch is in the log, before it is durable. An
	// error means nothing was appended.
	Append(recs []Record) (lastOffset int64, err error)
	// WaitDurable blocks until every record up to and including offset is
	// durable (fsynced), ctx is done, or the log fails.
	WaitDurable(ctx context.Context, offset int64) error
	// Replay calls fn for every record from the start of the log up to its
	// current end, in order. It stops at the first error fn returns.
	Replay(ctx context.Context, fn func(offset int64, r Record) error) error
}

// Batch describes the batch a record replayed by ReplayTxn came from.
type Batch struct {
	// ProducerID is the producer of a transactional batch or marker; -1
	// for the coordinator's own records.
	ProducerID    int64
	ProducerEpoch int16
	// Transactional is set for a transactional batch: its records take
	// effect only if a commit marker of ProducerID follows.
	Transactional bool
	// Marker is set for a transaction marker (Record is empty); Commit says
	// whether it commits or aborts.
	Marker, Commit bool
}

// TxnLog is a Log that also holds transactional batches of producers: the
// group coordinator writes a TxnOffsetCommit's offsets as records of the
// producer's transaction (KIP-98) and applies them when the transaction's
// marker is replayed. Mirrors GroupMetadataManager's handling of
// transactional offset commits.
type TxnLog interface {
	Log
	// AppendTxn writes recs as one transactional batch of producer pid at
	// epoch (without sequence: the coordinator writes it). An epoch older
	// than the producer's on this partition fails, and so does a batch
	// whose KIP-890 verification guard (unless
	// commitlog.NoVerificationGuard) a marker of the producer cleared
	// (commitlog.Log.AppendCoordinator).
	AppendTxn(pid int64, epoch int16, guard commitlog.VerificationGuard, recs []Record) (lastOffset int64, err error)
	// ReplayTxn is Replay that also yields transactional records and
	// markers, with the batch each came from.
	ReplayTxn(ctx context.Context, fn func(offset int64, r Record, b Batch) error) error
}

// ErrLogClosed is returned by a MemLog after Close.
var ErrLogClosed = errors.New("coordinator: log closed")

// MemLog is an in-memory Log for tests. Records are durable as soon as they
// are appended unless FailAppends or FailDurable is set. It is safe for
// concurrent use.
type MemLog struct {
	mu sync.Mutex
	// Fields below are guarded by mu.
	recs        []Record
	batches     []Batch // parallel to recs
	closed      bool
	failAppends error
	failDurable error
}

// NewMemLog returns an empty MemLog.
func NewMemLog() *MemLog { return &MemLog{} }

// Append implements Log.
func (l *MemLog) Append(recs []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrLogClosed
	}
	if l.failAppends != nil {
		return 0, l.failAppends
	}
	return l.appendLocked(recs, Batch{ProducerID: -1, ProducerEpoch: -1}), nil
}

func (l *MemLog) appendLocked(recs []Record, b Batch) int64 {
	for _, r := range recs {
		l.recs = append(l.recs, Record{Key: clone(r.Key), Value: clone(r.Value)})
		l.batches = append(l.batches, b)
	}
	return int64(len(l.recs)) - 1
}

// AppendTxn implements TxnLog (without epoch or guard checks).
func (l *MemLog) AppendTxn(pid int64, epoch int16, _ commitlog.VerificationGuard, recs []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrLogClosed
	}
	if l.failAppends != nil {
		return 0, l.failAppends
	}
	return l.appendLocked(recs, Batch{ProducerID: pid, ProducerEpoch: epoch, Transactional: true}), nil
}

// AppendMarker appends a transaction marker of pid, as the transaction
// coordinator's WriteTxnMarkers does in a real log.
func (l *MemLog) AppendMarker(pid int64, epoch int16, commit bool) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked([]Record{{}}, Batch{ProducerID: pid, ProducerEpoch: epoch, Transactional: true, Marker: true, Commit: commit})
}

// WaitDurable implements Log.
func (l *MemLog) WaitDurable(ctx context.Context, offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failDurable != nil {
		return l.failDurable
	}
	if offset >= int64(len(l.recs)) {
		return fmt.Errorf("wait durable %d: beyond log end %d", offset, len(l.recs))
	}
	return ctx.Err()
}

// Replay implements Log: transactional records and markers are skipped.
func (l *MemLog) Replay(ctx context.Context, fn func(int64, Record) error) error {
	return l.ReplayTxn(ctx, func(off int64, r Record, b Batch) error {
		if b.Transactional {
			return nil
		}
		return fn(off, r)
	})
}

// ReplayTxn implements TxnLog.
func (l *MemLog) ReplayTxn(ctx context.Context, fn func(int64, Record, Batch) error) error {
	l.mu.Lock()
	recs := l.recs[:len(l.recs):len(l.recs)]
	batches := l.batches[:len(l.batches):len(l.batches)]
	l.mu.Unlock()
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(int64(i), r, batches[i]); err != nil {
			return err
		}
	}
	return nil
}

// Records returns a copy of the records appended so far.
func (l *MemLog) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.recs...)
}

// FailAppends makes every later Append return err (nil restores).
func (l *MemLog) FailAppends(err error) {
	l.mu.Lock()
	l.failAppends = err
	l.mu.Unlock()
}

// FailDurable makes every later WaitDurable return err (nil restores).
func (l *MemLog) FailDurable(err error) {
	l.mu.Lock()
	l.failDurable = err
	l.mu.Unlock()
}

// Close makes later Appends fail with ErrLogClosed.
func (l *MemLog) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
