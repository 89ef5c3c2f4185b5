// Package txn tests idempotent producers and transactions against a kavka
// broker process with real franz-go clients (issue 6): exactly-once
// produce through a connection-cutting proxy, read_committed isolation, and
// a consume-transform-produce loop whose producer is killed at random.
package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

const waitFor = 60 * time.Second

func createTopic(t *testing.T, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// consumeAll reads topic from the start with the isolation level given,
// until two polls of a second each bring nothing more.
func consumeAll(t *testing.T, addr, topic string, iso kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(waitFor)
	for idle := 0; idle < 2 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch: %v", err)
			}
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return out
}

// cutProxy forwards TCP to target and, with probability 1/every per chunk
// sent to the broker, cuts both directions right after forwarding it, so
// that the broker gets a request whose response the client never sees.
type cutProxy struct {
	ln     net.Listener
	target string
	every  int
	rng    *rand.Rand
	mu     sync.Mutex
	cuts   atomic.Int64
	wg     sync.WaitGroup
	closed atomic.Bool
}

func newCutProxy(t *testing.T, addr, target string, every int, seed uint64) *cutProxy {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, every: every, rng: rand.New(rand.NewPCG(seed, 1))}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) close() {
	p.closed.Store(true)
	p.ln.Close()
	p.wg.Wait()
}

func (p *cutProxy) cut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.every > 0 && p.rng.IntN(p.every) == 0
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { // client → broker, cutting sometimes
			defer p.wg.Done()
			defer c.Close()
			defer b.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := b.Write(buf[:n]); werr != nil {
						return
					}
					if !p.closed.Load() && p.cut() {
						p.cuts.Add(1)
						time.Sleep(20 * time.Millisecond) // let the broker append
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // broker → client
			defer p.wg.Done()
			io.Copy(c, b)
			c.Close()
		}()
	}
}

func TestIdempotentProducerThroughCuts(t *testing.T) {
	proxyAddr := harness.FreeAddr(t)
	br := harness.Start(t, harness.WithArgs("--set", "advertised.listeners="+proxyAddr))
	proxy := newCutProxy(t, proxyAddr, br.Addr, 8, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(proxyAddr), kgo.DefaultProduceTopic("idem"),
		kgo.RecordRetries(1000), kgo.RequestRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(200))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, cl, "idem", 2)
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 2)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d produces failed", f)
	}
	if proxy.cuts.Load() == 0 {
		t.Fatal("the proxy cut no connection")
	}
	recs := consumeAll(t, br.Addr, "idem", kgo.ReadUncommitted())
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("record %d appears %d times", i, c)
		}
	}
	t.Logf("%d records exactly once through %d connection cuts", n, proxy.cuts.Load())
}

func TestTransactionsIsolation(t *testing.T) {
	br := harness.Start(t)
	cl := br.Client(kgo.TransactionalID("iso"), kgo.DefaultProduceTopic("tx"), kgo.ProducerLinger(0))
	createTopic(t, cl, "tx", 3)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for round, commit := range []bool{true, false, true, false, true} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			v := fmt.Sprintf("%d-%d-%v", round, i, commit)
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d (commit=%v): %v", round, commit, err)
		}
	}
	committed := consumeAll(t, br.Addr, "tx", kgo.ReadCommitted())
	all := consumeAll(t, br.Addr, "tx", kgo.ReadUncommitted())
	if len(committed) != 30 {
		t.Errorf("read_committed saw %d records, want 30", len(committed))
	}
	for _, r := range committed {
		if string(r.Value[len(r.Value)-4:]) != "true" {
			t.Errorf("read_committed saw aborted record %s", r.Value)
		}
	}
	if len(all) != 50 {
		t.Errorf("read_uncommitted saw %d records, want 50", len(all))
	}
	// An open transaction holds read_committed back (the LSO).
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("0"), Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(br.Client())
	txs, err := adm.DescribeTransactions(ctx, "iso")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := txs["iso"]; !ok || d.State != "Ongoing" {
		t.Errorf("DescribeTransactions = %+v, want Ongoing", txs)
	}
	committed = consumeAll(t, br.Addr, "tx", kgo.ReadCommitted())
	if len(committed) != 30 {
		t.Errorf("read_committed with an open transaction saw %d records, want 30", len(committed))
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if committed = consumeAll(t, br.Addr, "tx", kgo.ReadCommitted()); len(committed) != 31 {
		t.Errorf("after commit read_committed saw %d, want 31", len(committed))
	}
}
