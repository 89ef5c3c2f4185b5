package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// API keys the proxy holds in F17.
const (
	apiProduce int16 = 0
	apiEndTxn  int16 = 26
)

func init() {
	var w *txnWorkload
	register(scenario{id: "F17", fault: "transactions: pause a producer past its timeout, kill the coordinator, close a producer mid-commit, hold an EndTxn or Produce until the next transaction",
		partitions: 2, props: txnProps, side: txnSide(&w), nemesis: func(r *run) { txnNemesis(r, w) }})
}

func txnNemesis(r *run, w *txnWorkload) {
	rounds := 1
	if *soak {
		rounds = 4
	}
	for i := range rounds {
		r.nemesis("pause-producer", "tp0 sleeps %v before its next commit", txnTimeout+3*time.Second)
		w.pause[0].Store(true)
		coord := txnCoordinator(r, txnID(0))
		nd := r.c.node(coord)
		r.nemesis("kill", "node %d (transaction coordinator of %s)", coord, txnID(0))
		nd.kill()
		r.sleep(time.Duration(4+r.rng.IntN(3)) * time.Second)
		r.nemesis("start", "node %d", coord)
		r.restart(nd)
		r.sleep(2 * time.Second)
		r.nemesis("crash-producer", "tp1 closes its client during its next commit")
		w.crash[1].Store(true)
		r.sleep(2 * time.Second)
		if (i+r.rng.IntN(2))%2 == 0 {
			heldEndTxn(r, w)
		} else {
			heldProduce(r, w)
		}
		r.sleep(2 * time.Second)
	}
}

// txnCoordinator returns the node id of id's transaction coordinator.
func txnCoordinator(r *run, id string) int32 {
	var coord int32
	if _, err := eventually(r.ctx, 30*time.Second, func() error {
		cl, err := r.c.freshClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		defer cancel()
		resp := kadm.NewClient(cl).FindTxnCoordinators(ctx, id)[id]
		coord = resp.NodeID
		if resp.Err == nil && coord <= 0 {
			return fmt.Errorf("no coordinator for %s", id)
		}
		return resp.Err
	}); err != nil {
		r.t.Fatalf("transaction coordinator of %s: %v", id, err)
	}
	return coord
}

// scripted is a transaction the nemesis runs alone (the background
// producers wait at w.gate) with its own transactional id.
type scripted struct {
	r  *run
	w  *txnWorkload
	cl *kgo.Client
}

const scriptedID = "chaos-tx-s"

func (s *scripted) client(opts ...kgo.Opt) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.w.seeds...), kgo.TransactionalID(scriptedID), kgo.TransactionTimeout(txnTimeout),
		kgo.DefaultProduceTopic(s.w.topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryTimeout(15 * time.Second),
	}, opts...)...)
	if err != nil {
		s.r.t.Fatal(err)
	}
	s.cl = cl
}

// begin starts a transaction and produces one record to each partition in
// ps; it returns the transaction and the produce error.
func (s *scripted) begin(timeout time.Duration, ps ...int32) (*txnOp, error) {
	s.w.scripted++ // numbered across rounds: a soak holds several times
	op := s.w.h.begin(fmt.Sprintf("ts.%d", s.w.scripted), "ts")
	if err := s.cl.BeginTransaction(); err != nil {
		return op, err
	}
	var recs []*kgo.Record
	for k, p := range ps {
		v := fmt.Sprintf("%s.%d", op.ID, k)
		s.w.h.produced(op, txnRec{Partition: p, Value: v})
		recs = append(recs, &kgo.Record{Partition: p, Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(s.r.ctx, timeout)
	defer cancel()
	return op, s.cl.ProduceSync(ctx, recs...).FirstErr()
}

// end ends op: a commit that fails is indeterminate.
func (s *scripted) end(op *txnOp, commit bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !commit {
		s.w.h.end(op, txnAborted)
		return s.cl.EndTransaction(ctx, kgo.TryAbort)
	}
	s.w.h.commitInvoked(op)
	err := s.cl.EndTransaction(ctx, kgo.TryCommit)
	if err != nil {
		s.w.h.end(op, txnIndeterminate)
	} else {
		s.w.h.end(op, txnCommitted)
	}
	return err
}

// holdAll holds the next frame with api key k from the clients to every
// node; release lets them through.
func holdAll(r *run, k int16) {
	for _, nd := range r.c.nodes {
		r.c.net.Update(Client, nd.ID, func(rl *Rule) { rl.HoldAPIKey = k })
	}
}

func releaseAll(r *run) {
	for _, nd := range r.c.nodes {
		r.c.net.Release(Client, nd.ID)
	}
}

// heldEndTxn is the KIP-890 scenario with the EndTxn: transaction N's
// commit is held in the proxy, its producer replaced (the new client's
// InitProducerId fences N and aborts it), transaction N+1 started, then
// N's EndTxn delivered. It must be fenced: N stays aborted, and N+1
// (aborted here) must not be committed by it.
func heldEndTxn(r *run, w *txnWorkload) {
	w.gate.Lock()
	defer w.gate.Unlock()
	s := &scripted{r: r, w: w}
	s.client()
	defer func() { s.cl.Close() }()
	n, err := s.begin(15*time.Second, 0, 1)
	if err != nil {
		r.note(fmt.Sprintf("held EndTxn: produce failed: %v", err))
		s.end(n, false, 10*time.Second)
		return
	}
	r.nemesis("hold", "EndTxn (api key %d) from the clients to every node", apiEndTxn)
	holdAll(r, apiEndTxn)
	if err := s.end(n, true, 4*time.Second); err == nil {
		r.nemesis("release", "EndTxn of %s was not held", n.ID)
		releaseAll(r)
		return
	}
	s.cl.Close()
	s.client()
	next, err := s.begin(15*time.Second, 0, 1) // InitProducerId fenced n
	if err != nil {
		r.nemesis("release", "EndTxn (next transaction failed: %v)", err)
		releaseAll(r)
		s.end(next, false, 10*time.Second)
		return
	}
	// n's commit cannot have reached the coordinator before the fence.
	w.h.end(n, txnAborted)
	r.nemesis("release", "EndTxn of %s (commit, old epoch) while %s is open", n.ID, next.ID)
	releaseAll(r)
	r.sleep(2 * time.Second)
	if err := s.end(next, false, 10*time.Second); err != nil {
		r.note(fmt.Sprintf("held EndTxn: abort %s: %v", next.ID, err))
		return
	}
	last, err := s.begin(15*time.Second, 0, 1)
	if err == nil {
		err = s.end(last, true, 10*time.Second)
	} else {
		s.end(last, false, 10*time.Second)
	}
	if err != nil {
		r.liveness("", "held EndTxn: the transaction after the fenced EndTxn failed: %v", err)
	}
}

// heldProduce is the Bufstream scenario: transaction N's Produce to
// partition 0 is held in the proxy until its producer gave up, was
// replaced (fencing N) and transaction N+1 is open; then the stale Produce
// is delivered. It must be rejected: N's record never visible, and no
// hanging transaction from it (the LSO check).
func heldProduce(r *run, w *txnWorkload) {
	// Transaction N writes to partition 0, N+1 to one led by another node.
	l0 := r.txnLeader(w.topic, 0)
	q := int32(-1)
	for p := int32(1); p < w.partitions && q < 0; p++ {
		if r.txnLeader(w.topic, p) != l0 {
			q = p
		}
	}
	if q < 0 {
		r.nemesis("skip", "held Produce: every partition led by node %d; holding EndTxn instead", l0)
		heldEndTxn(r, w)
		return
	}
	w.gate.Lock()
	defer w.gate.Unlock()
	s := &scripted{r: r, w: w}
	s.client(kgo.RecordDeliveryTimeout(4*time.Second), kgo.ProduceRequestTimeout(2*time.Second))
	defer func() { s.cl.Close() }()
	r.nemesis("hold", "Produce (api key %d) from the clients to node %d (leader of %s/0)", apiProduce, l0, w.topic)
	r.c.net.Update(Client, int(l0), func(rl *Rule) { rl.HoldAPIKey = apiProduce })
	// A transactional client waits for a written Produce's answer past
	// its delivery timeout: give up after 5 s and close it, as a producer
	// that dies.
	var n *txnOp
	done := make(chan error, 1)
	go func() {
		var err error
		n, err = s.begin(5*time.Second, 0)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		s.cl.Close()
		err = <-done
	}
	if err == nil {
		r.nemesis("release", "Produce of %s was not held", n.ID)
		r.c.net.Release(Client, int(l0))
		s.end(n, true, 10*time.Second)
		return
	}
	w.h.end(n, txnAborted) // never committed; the new client fences it
	s.cl.Close()
	s.client()
	next, err := s.begin(15*time.Second, q) // InitProducerId fenced n
	if err != nil {
		r.nemesis("release", "Produce (next transaction failed: %v)", err)
		r.c.net.Release(Client, int(l0))
		s.end(next, false, 10*time.Second)
		return
	}
	r.nemesis("release", "Produce of %s (old epoch) while %s is open", n.ID, next.ID)
	r.c.net.Release(Client, int(l0))
	r.sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
	v := fmt.Sprintf("%s.late", next.ID)
	w.h.produced(next, txnRec{Partition: 0, Value: v})
	err = s.cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(v)}).FirstErr()
	cancel()
	if err == nil {
		err = s.end(next, true, 10*time.Second)
	} else {
		s.end(next, false, 10*time.Second)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		r.liveness("", "held Produce: the transaction after the stale Produce failed: %v", err)
	}
}

// txnLeader returns the leader of a partition of topic (≤ 30 s).
func (r *run) txnLeader(topic string, p int32) int32 {
	var l int32
	if _, err := eventually(r.ctx, 30*time.Second, func() (err error) { l, err = r.c.leader(r.ctx, topic, p); return err }); err != nil {
		r.t.Fatalf("leader of %s/%d: %v", topic, p, err)
	}
	return l
}
