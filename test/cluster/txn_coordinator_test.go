package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnCoordinatorFailover: a transactional producer commits
// transactions on a three-node cluster; the process of its transaction
// coordinator (the leader of its __transaction_state partition) is
// SIGKILLed; the producer goes on with the coordinator on another node.
// Afterwards a read_committed consumer sees the records of every
// acknowledged commit exactly once, and none of an aborted transaction.
func TestTxnCoordinatorFailover(t *testing.T) {
	c := Start(t, 3, "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500",
		"transaction.state.log.num.partitions=3", "offsets.topic.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)
	adm := kadm.NewClient(c.Client())
	const topic, txnID = "ledger", "ledger-writer"
	eventually(t, 30*time.Second, "create "+topic, func() error { return createTopic(ctx, adm, topic) })

	p := c.Client(kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(20*time.Second))
	committed := map[string]bool{} // values of acknowledged commits
	aborted := map[string]bool{}
	var txnCtx func(ctx context.Context, n int) error
	txn := func(n int) error {
		tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
		defer tcancel()
		return txnCtx(tctx, n)
	}
	txnCtx = func(ctx context.Context, n int) error {
		if err := p.BeginTransaction(); err != nil {
			return err
		}
		var vals []string
		for i := range 5 {
			v := fmt.Sprintf("t%d-%d", n, i)
			vals = append(vals, v)
			p.Produce(ctx, kgo.StringRecord(v), nil)
		}
		ferr := p.Flush(ctx)
		commit := kgo.TryCommit
		if ferr != nil {
			commit = kgo.TryAbort
		}
		eerr := p.EndTransaction(ctx, commit)
		switch {
		case ferr == nil && eerr == nil:
			for _, v := range vals {
				committed[v] = true
			}
		case eerr == nil: // aborted on purpose
			for _, v := range vals {
				aborted[v] = true
			}
		}
		return errors.Join(ferr, eerr)
	}
	n := 0
	for ; n < 10; n++ {
		tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
		err := txnCtx(tctx, n)
		tcancel()
		if err != nil {
			t.Fatalf("transaction %d before the kill: %v", n, err)
		}
	}
	cr := adm.FindTxnCoordinators(ctx, txnID)[txnID]
	if cr.Err != nil {
		t.Fatal(cr.Err)
	}
	t.Logf("%d transactions committed; killing transaction coordinator %d", len(committed)/5, cr.NodeID)
	start := time.Now()
	c.Nodes[cr.NodeID-1].Kill()
	first := time.Duration(0)
	deadline := time.Now().Add(90 * time.Second)
	for ok := 0; ok < 10 && time.Now().Before(deadline); n++ {
		before := len(committed)
		err := txn(n)
		if err != nil {
			t.Logf("transaction %d: %v", n, err)
			continue
		}
		if len(committed) > before {
			ok++
			if first == 0 {
				first = time.Since(start)
			}
		}
	}
	if first == 0 {
		t.Fatal("no transaction committed after the kill")
	}
	t.Logf("first commit %v after the kill; %d committed, %d aborted records", first.Round(time.Millisecond), len(committed), len(aborted))
	if cr2 := kadm.NewClient(c.Client()).FindTxnCoordinators(ctx, txnID)[txnID]; cr2.Err != nil || cr2.NodeID == cr.NodeID {
		t.Errorf("coordinator after the kill: %d (%v), want another node", cr2.NodeID, cr2.Err)
	}

	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for rctx.Err() == nil {
		missing := 0
		for v := range committed {
			if seen[v] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		fs := cl.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	for v := range committed {
		if seen[v] != 1 {
			t.Errorf("committed %s read %d times, want once", v, seen[v])
		}
	}
	for v := range aborted {
		if seen[v] != 0 {
			t.Errorf("aborted %s read %d times", v, seen[v])
		}
	}
}
