package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Network rows: F5 (clients cut off from a leader, producers crashing
// mid-send) and F6 (majority/minority split and majority ring).
func init() {
	register(
		scenario{id: "F5", fault: "blackhole clients↔leader of partition 0 (proxy, 20 s); producers closed abruptly mid-send, replaced by new producer ids", partitions: 3, nemesis: isolateClients, side: countIndeterminateRead},
		scenario{id: "F6", fault: "majority/minority split (active controller cut off, 12-14 s), then majority ring (active controller ↔ a partition leader cut, 12-14 s)", partitions: 3, nemesis: splitAndRing},
	)
}

// isolateClients is F5: the clients' link to the leader of partition 0 is
// blackholed both ways (the brokers still see each other, so the leader
// stays), while a producer that keeps sending is closed abruptly now and
// then and replaced by a new client, hence a new producer id. Requests held
// by the proxy reach the leader at the heal, after their producer is gone:
// an indeterminate send may then appear, but at most once.
func isolateClients(r *run) {
	d := map[bool]time.Duration{false: 20 * time.Second, true: 60 * time.Second}[*soak]
	l := int(r.leader(0))
	cp := &crashingProducer{r: r, rng: rand.New(rand.NewPCG(r.rng.Uint64(), 5))}
	ctx, stop := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); cp.run(ctx) }()
	r.sleep(time.Second)
	r.nemesis("isolate-client", "clients ↔ node %d (leader of 0) for %v", l, d)
	r.c.net.Partition(Client, l)
	r.c.net.Partition(l, Client)
	r.sleep(d)
	r.nemesis("heal-net", "")
	r.c.net.Heal()
	r.sleep(2 * time.Second)
	stop()
	<-done
	r.note(fmt.Sprintf("%d producer crashes", cp.crashes))
	r.sleep(2 * time.Second)
}

// countIndeterminateRead notes, after the final drain, how many
// indeterminate sends were read (the checker fails any read twice).
func countIndeterminateRead(r *run) func() {
	return func() {
		info, read := map[string]bool{}, map[string]bool{}
		for _, e := range r.h.Events() {
			switch {
			case e.F == "send" && e.Type == "info":
				info[e.Value] = true
			case e.F == "poll":
				for _, rec := range e.Records {
					if info[rec.Value] {
						read[rec.Value] = true
					}
				}
			}
		}
		r.note(fmt.Sprintf("%d of %d indeterminate sends read", len(read), len(info)))
	}
}

// crashingProducer sends unique values (process "x<incarnation>") to the
// chaos topic, partition 0 more often than the others, and every 3-6 s
// closes its client without flushing: buffered and in-flight sends end
// indeterminate. The next incarnation is a new client with a new producer
// id.
type crashingProducer struct {
	r       *run
	rng     *rand.Rand
	crashes int
}

func (cp *crashingProducer) run(ctx context.Context) {
	for inc := 1; ctx.Err() == nil; inc++ {
		life := time.Duration(3000+cp.rng.IntN(3000)) * time.Millisecond
		if err := cp.incarnation(ctx, fmt.Sprintf("x%d", inc), life); err != nil {
			cp.r.problem("crashing producer x%d: %v", inc, err)
			return
		}
	}
}

// incarnation sends 20/s for life (or until ctx ends) with one client,
// then closes it mid-send and waits (bounded) for every send to complete.
func (cp *crashingProducer) incarnation(ctx context.Context, proc string, life time.Duration) error {
	r := cp.r
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(r.c.seeds()...),
		kgo.DefaultProduceTopic(r.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(20*time.Second),
		kgo.ProduceRequestTimeout(8*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	var pending sync.WaitGroup
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.After(life)
	crashed := false
loop:
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			crashed = true
			break loop
		case <-tick.C:
		}
		p := int32(0)
		if cp.rng.IntN(2) == 0 {
			p = cp.rng.Int32N(r.partitions)
		}
		v := fmt.Sprintf("%s-%d", proc, seq)
		r.h.Add(Event{Type: "invoke", F: "send", Process: proc, Partition: p, Value: v, Offset: -1})
		pending.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: []byte(v), Partition: p}, func(rec *kgo.Record, err error) {
			defer pending.Done()
			if err != nil {
				r.h.Add(Event{Type: "info", F: "send", Process: proc, Partition: p, Value: v, Offset: -1, Err: err.Error()})
				return
			}
			r.h.Add(Event{Type: "ok", F: "send", Process: proc, Partition: rec.Partition, Value: v, Offset: rec.Offset})
		})
	}
	if crashed {
		cp.crashes++
		r.nemesis("crash-client", "producer %s closed mid-send", proc)
	} else if err := flush(cl, 25*time.Second); err != nil {
		r.problem("producer %s: %v", proc, err)
	}
	closed := make(chan struct{})
	go func() { defer close(closed); cl.Close(); pending.Wait() }()
	select {
	case <-closed:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("close of %s did not complete its sends within 30 s", proc)
	}
}

// flush waits at most d for every buffered record of cl to complete.
func flush(cl *kgo.Client, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return cl.Flush(ctx)
}

// splitAndRing is F6. First a majority/minority split: the active
// controller (and whatever partitions it leads) is cut off from both other
// nodes, both ways, while clients still reach it; the minority must ack
// nothing and the majority must elect a controller and partition leaders
// and take writes again. Then a majority ring: the active controller and
// the leader of a partition (another node) cannot reach each other, both
// can reach the third node, so each sees a different majority.
func splitAndRing(r *run) {
	d := func() time.Duration {
		if *soak {
			return time.Duration(12+r.rng.IntN(9)) * time.Second
		}
		return time.Duration(12000+r.rng.IntN(2000)) * time.Millisecond
	}
	rounds := 1
	if *soak {
		rounds = 3
	}
	for range rounds {
		ctl := r.activeController()
		others := r.others(ctl)
		r.nemesis("split", "node %d (active controller, leads %v) | nodes %v, both ways; clients reach all", ctl, r.ledBy(ctl), others)
		for _, p := range r.ledBy(ctl) {
			r.failover(p, int32(ctl))
		}
		r.c.net.Isolate(ctl, others...)
		r.expectProgress(d(), "split")
		r.nemesis("heal-net", "")
		r.c.net.Heal()
		r.settle()

		ctl = r.activeController()
		peer := -1
		for p := range r.partitions {
			if l := int(r.leader(p)); l != ctl {
				peer = l
				break
			}
		}
		if peer < 0 { // the controller leads every partition
			peer = pick(r.rng, r.others(ctl))
		}
		third := slices.DeleteFunc(r.others(ctl), func(id int) bool { return id == peer })
		r.nemesis("ring", "node %d (active controller, leads %v) ↮ node %d (leads %v), both see node %v", ctl, r.ledBy(ctl), peer, r.ledBy(peer), third)
		r.c.net.Isolate(ctl, peer)
		r.expectProgress(d(), "ring")
		r.nemesis("heal-net", "")
		r.c.net.Heal()
		r.settle()
	}
}

// activeController returns the raft leader of the metadata quorum.
func (r *run) activeController() int {
	var ctl int32
	if _, err := eventually(r.ctx, 30*time.Second, func() (err error) { ctl, err = r.c.activeController(r.ctx); return err }); err != nil {
		r.t.Fatalf("active controller: %v", err)
	}
	return int(ctl)
}

// others returns the ids of the members other than id.
func (r *run) others(id int) []int {
	var out []int
	for _, nd := range r.c.members() {
		if nd.ID != id {
			out = append(out, nd.ID)
		}
	}
	return out
}

// ledBy returns the partitions of the topic node id leads now.
func (r *run) ledBy(id int) []int32 {
	out := []int32{}
	for p := range r.partitions {
		if int(r.leader(p)) == id {
			out = append(out, p)
		}
	}
	return out
}

// expectProgress lets a fault last d, then requires every partition to
// have acked a send invoked since the fault began: the majority takes
// writes again (session timeout 4 s + elections). If one has not, the
// fault lasts up to 20 s longer while waiting for it; beyond that it is
// reported.
func (r *run) expectProgress(d time.Duration, what string) {
	all := make([]int32, r.partitions)
	for p := range r.partitions {
		all[p] = p
	}
	r.awaitProgress(d, what, all, "every partition")
}

// awaitProgress lets a fault last d, then waits up to 20 s more for each of
// ps (named who in the note) to ack a send invoked since the fault began.
func (r *run) awaitProgress(d time.Duration, what string, ps []int32, who string) {
	start := r.h.Now()
	r.sleep(d)
	stuck := func() error {
		acked := map[int32]bool{}
		since := map[string]bool{} // values invoked since start
		for _, e := range r.h.Events() {
			switch {
			case e.F != "send":
			case e.Type == "invoke" && e.Mono >= start:
				since[e.Value] = true
			case e.Type == "ok" && since[e.Value]:
				acked[e.Partition] = true
			}
		}
		var out []int32
		for _, p := range ps {
			if !acked[p] {
				out = append(out, p)
			}
		}
		if len(out) > 0 {
			return fmt.Errorf("partitions %v acked nothing", out)
		}
		return nil
	}
	if stuck() == nil || r.ctx.Err() != nil {
		return
	}
	waited, err := eventually(r.ctx, 20*time.Second, stuck)
	if err != nil {
		r.problem("%s: %v in %v of the fault (no progress on the majority)", what, err, (d + waited).Round(time.Second))
		return
	}
	r.note(fmt.Sprintf("%s held %v longer until %s took writes", what, waited.Round(time.Second), who))
}

// settle waits (≤ 40 s) for a full ISR after a heal, and reports if it
// does not come back.
func (r *run) settle() {
	r.sleep(2 * time.Second)
	if d, err := eventually(r.ctx, 40*time.Second, func() error { return r.c.fullISR(r.ctx, r.topic, r.partitions) }); err != nil {
		r.problem("full ISR not back %v after the heal: %v", d.Round(time.Second), err)
	}
}
