package txn

import (
	"context"
	"flag"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

// ctpRecords is the size of the consume-transform-produce run: the issue's
// 100,000 by default (about 20 s here: transactions of up to 1,000 records,
// a worker killed every few), 2,000 with -short.
var ctpRecords = flag.Int("txn.ctp.records", 100000, "records copied by TestConsumeTransformProduceExactlyOnce")

// TestConsumeTransformProduceExactlyOnce runs kgo.GroupTransactSession
// copying "in" to "out" while the worker is killed (its client closed with a
// transaction open, or right after a commit) at random points and a new one
// takes over with the same transactional id. The output read with
// read_committed must hold every input exactly once.
func TestConsumeTransformProduceExactlyOnce(t *testing.T) {
	n := *ctpRecords
	if testing.Short() {
		n = 2000
	}
	// Transactions of up to maxPoll records (n/100): about 200 of them
	// whatever n, a worker killed every two or three.
	maxPoll := max(50, n/100)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	br := harness.Start(t, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	prod := br.Client(kgo.DefaultProduceTopic("in"), kgo.ProducerLinger(0))
	createTopic(t, prod, "in", 3)
	createTopic(t, prod, "out", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitFor+time.Duration(n)*2*time.Millisecond)
	defer cancel()
	for i := 0; i < n; i += 1000 {
		var rs []*kgo.Record
		for j := i; j < min(i+1000, n); j++ {
			rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(j)), Value: []byte(strconv.Itoa(j))})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(br.Client())
	committed := func() int64 {
		offs, err := adm.FetchOffsets(ctx, "ctp")
		if err != nil {
			return 0
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	kills := 0
	for sessions := 0; committed() < int64(n); sessions++ {
		if ctx.Err() != nil || sessions > 200+n/100 {
			t.Fatalf("gave up after %d sessions, %d kills: %d of %d inputs committed", sessions, kills, committed(), n)
		}
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(br.Addr), kgo.TransactionalID("ctp-worker"), kgo.ConsumerGroup("ctp"), kgo.ConsumeTopics("in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic("out"), kgo.ProducerLinger(0),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.TransactionTimeout(20*time.Second),
		)
		if err != nil {
			t.Fatal(err)
		}
		lifetime := rng.IntN(4) // batches before this worker dies
	worker:
		for batch := 0; ; batch++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			fs := sess.PollRecords(pctx, 1+rng.IntN(maxPoll))
			pcancel()
			if fs.NumRecords() == 0 {
				if committed() >= int64(n) {
					break worker
				}
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Fatalf("begin: %v", err)
			}
			var out []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				out = append(out, &kgo.Record{Key: r.Key, Value: r.Value})
			})
			// Produce in two halves so that a kill can land between them.
			half := len(out) / 2
			if err := sess.ProduceSync(ctx, out[:half]...).FirstErr(); err != nil {
				t.Logf("produce: %v", err)
			}
			if batch == lifetime && rng.IntN(2) == 0 {
				kills++
				break worker // killed with a transaction open
			}
			if err := sess.ProduceSync(ctx, out[half:]...).FirstErr(); err != nil {
				t.Logf("produce: %v", err)
			}
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				t.Logf("end: %v", err)
			}
			if batch >= lifetime {
				kills++
				break worker // killed after a commit
			}
		}
		sess.Close()
	}
	recs := consumeAll(t, br.Addr, "out", kgo.ReadCommitted())
	seen := make(map[string]int, n)
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("input %d appears %d times in the output", i, c)
		}
	}
	if len(recs) != n {
		t.Errorf("output has %d records, want %d", len(recs), n)
	}
	t.Logf("%d inputs exactly once across %d worker kills (seed %d)", n, kills, seed)
}
