package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transaction outcomes as the producer saw them.
const (
	txnCommitted     = "committed"     // EndTransaction(commit) returned nil
	txnAborted       = "aborted"       // no commit was ever sent, or it was fenced for sure
	txnIndeterminate = "indeterminate" // a commit was attempted; its outcome is unknown
)

// txnRec is one record a transaction produced, with the produce result:
// the offset and leader epoch the partition leader acknowledged it at.
type txnRec struct {
	Partition int32
	Value     string
	Acked     bool  // the produce succeeded
	Offset    int64 // acknowledged offset; -1 if not acknowledged
	// Leader and LeaderEpoch are the partition's leader and epoch in the
	// producing client's metadata right after the acknowledgement (a
	// Produce response carries no epoch; -1 if unknown).
	Leader, LeaderEpoch int32
	// ProducerID and ProducerEpoch the client sent the record with (to
	// match the brokers' "duplicate batch answered" lines).
	ProducerID    int64
	ProducerEpoch int16
	AckAt         time.Duration // when ProduceSync returned
	Err           string        // the produce error, if any
}

// String is the record as anomaly reports print it.
func (r txnRec) String() string {
	if !r.Acked {
		return fmt.Sprintf("%s p%d not acked (%s; producer %d/%d)", r.Value, r.Partition, r.Err, r.ProducerID, r.ProducerEpoch)
	}
	return fmt.Sprintf("%s acked at %d/%d at %v (client's leader %d, epoch %d; producer %d/%d)", r.Value, r.Partition, r.Offset,
		r.AckAt.Round(time.Millisecond), r.Leader, r.LeaderEpoch, r.ProducerID, r.ProducerEpoch)
}

// txnOp is one transaction of the transactional workload.
type txnOp struct {
	ID     string // unique label, also the prefix of its values
	Proc   string
	Recs   []txnRec // records sent, with their produce results
	Status string   // committed, aborted, indeterminate; "" while open
	// Commit is when EndTransaction(commit) was invoked (monotonic, since
	// the history began); -1 if never.
	Commit time.Duration
}

// txnRead is one record a read_committed consumer returned.
type txnRead struct {
	Proc      string
	Partition int32
	Offset    int64
	Value     string
	At        time.Duration // after the poll returned
}

// txnHistory is the transactional workload's history; safe for concurrent
// use. Times are on the queue history's monotonic clock.
type txnHistory struct {
	mu    sync.Mutex
	ops   []*txnOp
	reads []txnRead
	now   func() time.Duration
}

func (h *txnHistory) begin(id, proc string) *txnOp {
	op := &txnOp{ID: id, Proc: proc, Commit: -1}
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	return op
}

func (h *txnHistory) produced(op *txnOp, r txnRec) {
	h.mu.Lock()
	op.Recs = append(op.Recs, r)
	h.mu.Unlock()
}

// acked records the produce result of op's record k.
func (h *txnHistory) acked(op *txnOp, k int, rec *kgo.Record, leader, epoch int32, err error) {
	at := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if k >= len(op.Recs) {
		return
	}
	r := &op.Recs[k]
	r.AckAt, r.ProducerID, r.ProducerEpoch = at, rec.ProducerID, rec.ProducerEpoch
	if err != nil {
		r.Err = err.Error()
		return
	}
	r.Acked, r.Offset, r.Leader, r.LeaderEpoch = true, rec.Offset, leader, epoch
}

func (h *txnHistory) commitInvoked(op *txnOp) {
	h.mu.Lock()
	op.Commit = h.now()
	h.mu.Unlock()
}

func (h *txnHistory) end(op *txnOp, status string) {
	h.mu.Lock()
	op.Status = status
	h.mu.Unlock()
}

func (h *txnHistory) read(rs ...txnRead) {
	h.mu.Lock()
	h.reads = append(h.reads, rs...)
	h.mu.Unlock()
}

// snapshot returns copies of the transactions and reads so far.
func (h *txnHistory) snapshot() ([]txnOp, []txnRead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := make([]txnOp, len(h.ops))
	for i, op := range h.ops {
		ops[i] = *op
		ops[i].Recs = append([]txnRec(nil), op.Recs...)
	}
	return ops, append([]txnRead(nil), h.reads...)
}

// TxnResult is what CheckTxn found.
type TxnResult struct {
	Committed, Aborted, Indeterminate int
	Anomalies                         map[string][]string
	// Broken lists the transactions of lost-write and fractured-read
	// anomalies, for the report of their producers' timelines.
	Broken []string
}

func (r *TxnResult) add(kind, format string, args ...any) {
	r.Anomalies[kind] = append(r.Anomalies[kind], fmt.Sprintf(format, args...))
}

// CheckTxn checks a transactional history whose reads are all
// read_committed and end with a drain that read every partition to its
// last stable offset:
//   - aborted-read (G1a): a record of an aborted transaction was read;
//   - precommitted-read: a record was read before its transaction's commit
//     was invoked;
//   - phantom-read: a record no transaction produced was read;
//   - lost-write: a record of a committed transaction was never read;
//   - fractured-read: some records of a transaction were read, others
//     never (committed or not, a transaction is all or nothing);
//   - duplicate / inconsistent-offsets: a value at two offsets, an offset
//     holding two values;
//   - nonmonotonic-poll: a consumer's offsets of a partition not increasing.
func CheckTxn(ops []txnOp, reads []txnRead) *TxnResult {
	r := &TxnResult{Anomalies: map[string][]string{}}
	byValue := map[string]*txnOp{}
	for i := range ops {
		op := &ops[i]
		switch op.Status {
		case txnCommitted:
			r.Committed++
		case txnAborted:
			r.Aborted++
		default:
			r.Indeterminate++
		}
		for _, rec := range op.Recs {
			byValue[rec.Value] = op
		}
	}
	seen := map[string]bool{}
	where := map[string]map[po]bool{}
	at := map[po]string{}
	type cursor struct {
		proc string
		p    int32
	}
	last := map[cursor]int64{}
	for _, rd := range reads {
		k := po{rd.Partition, rd.Offset}
		if v, ok := at[k]; ok && v != rd.Value {
			r.add("inconsistent-offsets", "partition %d offset %d holds %q and %q", rd.Partition, rd.Offset, v, rd.Value)
		}
		at[k] = rd.Value
		if where[rd.Value] == nil {
			where[rd.Value] = map[po]bool{}
		}
		where[rd.Value][k] = true
		c := cursor{rd.Proc, rd.Partition}
		if prev, ok := last[c]; ok && rd.Offset <= prev {
			r.add("nonmonotonic-poll", "%s partition %d: offset %d after %d (at %v)", rd.Proc, rd.Partition, rd.Offset, prev, rd.At)
		}
		last[c] = rd.Offset
		first := !seen[rd.Value]
		seen[rd.Value] = true
		op := byValue[rd.Value]
		switch {
		case op == nil:
			if first {
				r.add("phantom-read", "%s read %q at %d/%d, no transaction produced it", rd.Proc, rd.Value, rd.Partition, rd.Offset)
			}
		case op.Status == txnAborted:
			if first {
				r.add("aborted-read", "%s read %q at %d/%d of aborted transaction %s", rd.Proc, rd.Value, rd.Partition, rd.Offset, op.ID)
			}
		case op.Commit < 0 || rd.At < op.Commit:
			r.add("precommitted-read", "%s read %q at %d/%d at %v, before %s's commit (%v)", rd.Proc, rd.Value, rd.Partition, rd.Offset, rd.At, op.ID, op.Commit)
		}
	}
	for v, ks := range where {
		if len(ks) > 1 {
			var l []string
			for k := range ks {
				l = append(l, fmt.Sprintf("%d/%d", k.p, k.o))
			}
			sort.Strings(l)
			r.add("duplicate", "%q at %v", v, l)
		}
	}
	for _, op := range ops {
		var got, missing []string
		for _, rec := range op.Recs {
			if seen[rec.Value] {
				got = append(got, rec.Value)
			} else {
				missing = append(missing, rec.Value)
			}
		}
		switch {
		case op.Status == txnCommitted && len(missing) > 0:
			r.add("lost-write", "committed %s: %d of %d records never read: %v; %s", op.ID, len(missing), len(op.Recs), missing,
				describeRecs(&op, seen, at))
			r.Broken = append(r.Broken, op.ID)
		case len(got) > 0 && len(missing) > 0:
			r.add("fractured-read", "%s (%s): read %v, never %v; %s", op.ID, op.Status, got, missing, describeRecs(&op, seen, at))
			r.Broken = append(r.Broken, op.ID)
		}
	}
	return r
}

// describeRecs tells, for a lost-write or fractured-read report, where each
// record of op was acknowledged and what the consumers read at that
// partition and offset (another value there means the acknowledged offset
// was reused: the batch was cut from the log and the offset written again).
func describeRecs(op *txnOp, seen map[string]bool, at map[po]string) string {
	var l []string
	for _, rec := range op.Recs {
		s := rec.String()
		switch {
		case seen[rec.Value]:
			s += ", read"
		case rec.Acked:
			if v, ok := at[po{rec.Partition, rec.Offset}]; ok {
				s += fmt.Sprintf(", never read; that offset was read holding %q", v)
			} else {
				s += ", never read; nothing was read at that offset"
			}
		default:
			s += ", never read"
		}
		l = append(l, s)
	}
	return strings.Join(l, "; ")
}

// txnTimeline describes the transactions of id's producer from the one
// before id to three after it: status, commit time and every record's
// produce result (the transaction after a lost record failed with
// OUT_OF_ORDER_SEQUENCE_NUMBER in the F19 bug).
func txnTimeline(ops []txnOp, id string) string {
	i := slices.IndexFunc(ops, func(op txnOp) bool { return op.ID == id })
	if i < 0 {
		return ""
	}
	proc := ops[i].Proc
	var mine []txnOp
	for _, op := range ops {
		if op.Proc == proc {
			mine = append(mine, op)
		}
	}
	j := slices.IndexFunc(mine, func(op txnOp) bool { return op.ID == id })
	var b strings.Builder
	for _, op := range mine[max(j-1, 0):min(j+4, len(mine))] {
		fmt.Fprintf(&b, "\n  %s %s (commit invoked at %v)", op.ID, op.Status, op.Commit.Round(time.Millisecond))
		for _, rec := range op.Recs {
			fmt.Fprintf(&b, "\n    %s", rec)
		}
	}
	return b.String()
}
