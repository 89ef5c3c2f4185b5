package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnTimeout is the transactional producers' transaction.timeout.ms.
const txnTimeout = 6 * time.Second

// txnProps make the coordinator abort timed-out transactions within a
// second or two (Kafka's default checks every 10 s).
var txnProps = []string{"transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"}

// txnWorkload runs transactional producers (acks=all, seeded commit or
// abort, 1-4 records over the partitions of one topic) and read_committed
// assign-mode consumers, and logs them in a txnHistory.
type txnWorkload struct {
	h          *txnHistory
	seeds      []string
	topic      string
	partitions int32
	producers  int
	consumers  int
	logf       func(string, ...any)

	// gate: every background transaction holds it shared; a nemesis takes
	// it exclusively to run a scripted transaction alone.
	gate    sync.RWMutex
	crash   []atomic.Bool // per producer: close the client during the next commit
	pause   []atomic.Bool // per producer: sleep past the timeout before the next commit
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cwg     sync.WaitGroup // consumers
	ccancel context.CancelFunc

	scripted int // scripted transactions begun (the nemesis goroutine only)
}

func newTxnWorkload(r *run, topic string, partitions int32) *txnWorkload {
	return &txnWorkload{
		h:     &txnHistory{now: r.h.Now},
		seeds: r.c.seeds(), topic: topic, partitions: partitions, producers: 2, consumers: 2, logf: r.t.Logf,
		crash: make([]atomic.Bool, 2), pause: make([]atomic.Bool, 2),
	}
}

// createTxnTopic creates topic (RF=3, min.insync.replicas=2) and waits for
// a full ISR.
func createTxnTopic(r *run, topic string, partitions int32) {
	if _, err := eventually(r.ctx, 30*time.Second, func() error {
		cl, err := r.c.freshClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		resp, err := kadm.NewClient(cl).CreateTopic(r.ctx, partitions, 3, map[string]*string{"min.insync.replicas": ptr("2")}, topic)
		return createErr(resp.Err, err)
	}); err != nil {
		r.t.Fatalf("create topic %s: %v", topic, err)
	}
	if _, err := eventually(r.ctx, 30*time.Second, func() error { return r.c.fullISR(r.ctx, topic, partitions) }); err != nil {
		r.t.Fatalf("topic %s never had a full ISR: %v", topic, err)
	}
}

// txnSide is a scenario side workload: transactions on a second topic,
// checked by CheckTxn after the final drain. It stores the workload in
// *out if out is not nil (for nemeses that act on it).
func txnSide(out **txnWorkload) func(r *run) func() {
	return func(r *run) func() {
		const topic, partitions = "chaos-txn", 3
		createTxnTopic(r, topic, partitions)
		w := newTxnWorkload(r, topic, partitions)
		if out != nil {
			*out = w
		}
		w.run(r.ctx, r.rng.Uint64())
		return func() { w.finish(r) }
	}
}

func (w *txnWorkload) producerClient(id string) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(w.seeds...),
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(txnTimeout),
		kgo.DefaultProduceTopic(w.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(15*time.Second),
		kgo.RetryTimeout(15*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
}

func (w *txnWorkload) consumerClient(extra ...kgo.Opt) (*kgo.Client, error) {
	start := map[int32]kgo.Offset{}
	for p := range w.partitions {
		start[p] = kgo.NewOffset().At(0)
	}
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(w.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryTimeout(20 * time.Second),
	}, extra...)...)
}

// run starts the producers and consumers.
func (w *txnWorkload) run(ctx context.Context, seed uint64) {
	pctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	for i := range w.producers {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.produce(pctx, i, seed+uint64(i)) }()
	}
	cctx, ccancel := context.WithCancel(ctx)
	w.ccancel = ccancel
	for i := range w.consumers {
		w.cwg.Add(1)
		go func() { defer w.cwg.Done(); w.consume(cctx, fmt.Sprintf("rc%d", i)) }()
	}
}

// txnID is producer i's transactional id.
func txnID(i int) string { return fmt.Sprintf("chaos-tx-%d", i) }

func (w *txnWorkload) produce(ctx context.Context, i int, seed uint64) {
	proc := fmt.Sprintf("tp%d", i)
	rng := rand.New(rand.NewPCG(seed, 11))
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if cl == nil {
			var err error
			if cl, err = w.producerClient(txnID(i)); err != nil {
				w.logf("%s: %v", proc, err)
				return
			}
		}
		w.gate.RLock()
		ok := w.one(ctx, cl, proc, fmt.Sprintf("%s.%d", proc, n), i, rng)
		w.gate.RUnlock()
		if !ok {
			cl.Close() // a new client fences what the old one left open
			cl = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+rng.IntN(150)) * time.Millisecond):
		}
	}
}

// one runs one transaction; false means the client must be replaced.
func (w *txnWorkload) one(ctx context.Context, cl *kgo.Client, proc, id string, i int, rng *rand.Rand) bool {
	if err := cl.BeginTransaction(); err != nil {
		w.logf("%s: begin %s: %v", proc, id, err)
		return false
	}
	op := w.h.begin(id, proc)
	commit := rng.IntN(4) != 0
	n := 1 + rng.IntN(4)
	var recs []*kgo.Record
	for k := range n {
		p := rng.Int32N(w.partitions)
		recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%s.%d", id, k)})
	}
	// Records sent count even if unacknowledged: an aborted transaction's
	// must stay invisible, and a commit covers whatever was appended.
	for _, rec := range recs {
		w.h.produced(op, txnRec{Partition: rec.Partition, Value: string(rec.Value), Offset: -1, Leader: -1, LeaderEpoch: -1})
	}
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	results := cl.ProduceSync(pctx, recs...)
	cancel()
	err := results.FirstErr()
	// Each record's acknowledged offset, and the leader and epoch the
	// client knew then: what a lost-write report needs to find the batch
	// in the brokers' logs (reliability.md, the F19 lost record).
	for _, res := range results {
		k := slices.Index(recs, res.Record)
		leader, epoch, _ := cl.PartitionLeader(w.topic, res.Record.Partition)
		w.h.acked(op, k, res.Record, leader, epoch, res.Err)
	}
	if err != nil {
		w.logf("%s: produce %s: %v", proc, id, err) // e.g. OUT_OF_ORDER_SEQUENCE_NUMBER from a stale leader
		commit = false
	}
	if commit && w.pause[i].CompareAndSwap(true, false) {
		w.logf("%s: pausing %s past the transaction timeout", proc, id)
		time.Sleep(txnTimeout + 3*time.Second)
	}
	ectx, ecancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ecancel()
	if !commit {
		w.h.end(op, txnAborted) // no commit was ever sent
		if err := cl.EndTransaction(ectx, kgo.TryAbort); err != nil {
			w.logf("%s: abort %s: %v", proc, id, err)
			return false
		}
		return true
	}
	w.h.commitInvoked(op)
	if w.crash[i].CompareAndSwap(true, false) {
		w.crashCommit(ectx, cl, op, proc, rng)
		return false
	}
	if err := cl.EndTransaction(ectx, kgo.TryCommit); err != nil {
		w.h.end(op, txnIndeterminate)
		w.logf("%s: commit %s: %v", proc, id, err)
		return false
	}
	w.h.end(op, txnCommitted)
	return true
}

// crashCommit starts the commit and closes the client abruptly 0-8 ms
// later, as a producer process that dies mid-commit.
func (w *txnWorkload) crashCommit(ctx context.Context, cl *kgo.Client, op *txnOp, proc string, rng *rand.Rand) {
	done := make(chan error, 1)
	go func() { done <- cl.EndTransaction(ctx, kgo.TryCommit) }()
	time.Sleep(time.Duration(rng.IntN(8)) * time.Millisecond)
	cl.Close()
	err := <-done
	if err == nil {
		w.h.end(op, txnCommitted)
	} else {
		w.h.end(op, txnIndeterminate)
	}
	w.logf("%s: closed the client during the commit of %s (commit: %v)", proc, op.ID, err)
}

func (w *txnWorkload) consume(ctx context.Context, proc string) {
	cl, err := w.consumerClient()
	if err != nil {
		w.logf("%s: %v", proc, err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		w.record(proc, fs)
	}
}

func (w *txnWorkload) record(proc string, fs kgo.Fetches) int {
	at := w.h.now()
	var rs []txnRead
	fs.EachRecord(func(r *kgo.Record) {
		rs = append(rs, txnRead{Proc: proc, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value), At: at})
	})
	w.h.read(rs...)
	return len(rs)
}

// finish stops the producers, checks that the last stable offsets reach
// the high watermarks within 30 s (no hanging transaction), drains every
// partition read_committed, stops the consumers and runs CheckTxn.
func (w *txnWorkload) finish(r *run) {
	w.cancel()
	w.wg.Wait()
	stopped := time.Now()
	cl, err := r.c.freshClient()
	if err != nil {
		r.problem("txn: client: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	d, err := eventually(r.ctx, 30*time.Second, func() error { return w.stable(r.ctx, adm) })
	if err != nil {
		r.liveness("", "txn: hanging LSO: %v %v after the transactional producers stopped", err, d.Round(time.Second))
	} else {
		r.maxNote("txn LSO settled", time.Since(stopped))
	}
	if err := w.drain(r.ctx, 40*time.Second); err != nil {
		r.problem("txn: %v", err)
	}
	w.ccancel()
	w.cwg.Wait()
	ops, reads := w.h.snapshot()
	res := CheckTxn(ops, reads)
	r.t.Logf("txn: committed %d, aborted %d, indeterminate %d, records read %d", res.Committed, res.Aborted, res.Indeterminate, len(reads))
	r.note(fmt.Sprintf("txns %d/%d/%d committed/aborted/indeterminate", res.Committed, res.Aborted, res.Indeterminate))
	if res.Committed == 0 {
		r.liveness("", "txn: no transaction committed")
	}
	for k, v := range res.Anomalies {
		for i, s := range v {
			if i == 20 {
				r.problem("txn %s: … %d in all", k, len(v))
				break
			}
			r.problem("txn %s: %s", k, s)
		}
	}
	for _, id := range res.Broken {
		r.t.Logf("txn: producer timeline around %s:%s", id, txnTimeline(ops, id))
		for _, op := range ops {
			if op.ID != id {
				continue
			}
			for _, rec := range op.Recs {
				if rec.Acked {
					r.t.Logf("txn: read_uncommitted around %s's %s at %d/%d:%s", id, rec.Value, rec.Partition, rec.Offset,
						w.inspect(r.ctx, rec.Partition, rec.Offset))
				}
			}
		}
	}
	if len(res.Anomalies) > 0 {
		r.keepData(fmt.Sprintf("txn anomalies: %d kinds", len(res.Anomalies)))
	}
}

// stable returns nil when every partition's last stable offset equals its
// high watermark.
func (w *txnWorkload) stable(ctx context.Context, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hw, err := adm.ListEndOffsets(ctx, w.topic)
	if err == nil {
		err = hw.Error()
	}
	if err != nil {
		return err
	}
	lso, err := adm.ListCommittedOffsets(ctx, w.topic)
	if err == nil {
		err = lso.Error()
	}
	if err != nil {
		return err
	}
	for p := range w.partitions {
		h, _ := hw.Lookup(w.topic, p)
		l, _ := lso.Lookup(w.topic, p)
		if l.Offset != h.Offset {
			return fmt.Errorf("partition %d: last stable offset %d, high watermark %d", p, l.Offset, h.Offset)
		}
	}
	return nil
}

// drain reads every partition read_committed from offset 0 with a fresh
// client until every record of a committed transaction was read and 3 s
// pass without a new record, for at most d.
func (w *txnWorkload) drain(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cl, err := w.consumerClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ops, _ := w.h.snapshot()
	want := map[string]bool{}
	for _, op := range ops {
		if op.Status == txnCommitted {
			for _, rec := range op.Recs {
				want[rec.Value] = true
			}
		}
	}
	quiet := time.Now()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if w.record("drain", fs) > 0 {
			quiet = time.Now()
		}
		fs.EachRecord(func(r *kgo.Record) { delete(want, string(r.Value)) })
		if len(want) == 0 && time.Since(quiet) > 3*time.Second {
			return nil
		}
		if ctx.Err() != nil {
			if len(want) == 0 {
				return nil
			}
			return fmt.Errorf("txn drain: %d committed records not read within %v", len(want), d)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				w.logf("txn drain: fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
	}
}

// inspect reads partition p read_uncommitted around offset o, control
// records included, and describes each batch's records: whether an
// acknowledged record that no read_committed consumer saw is still in the
// log (hidden by a marker or the aborted index) or gone (cut, or its
// offset written again).
func (w *txnWorkload) inspect(ctx context.Context, p int32, o int64) string {
	from := max(o-3, 0)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b strings.Builder
	for ctx.Err() == nil {
		done := false
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset > o+3 {
				done = true
				return
			}
			fmt.Fprintf(&b, "\n    %d: %q producer %d/%d leader epoch %d txn %v control %v", r.Offset, r.Value,
				r.ProducerID, r.ProducerEpoch, r.LeaderEpoch, r.Attrs.IsTransactional(), r.Attrs.IsControl())
		})
		if done {
			break
		}
	}
	if b.Len() == 0 {
		return " nothing read"
	}
	return b.String()
}
