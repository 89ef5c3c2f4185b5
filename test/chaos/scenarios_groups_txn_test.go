package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Row F18b: F18 with the offsets committed inside transactions. Group
// members copy the chaos topic into a second topic with
// kgo.GroupTransactSession (consume, produce, TxnOffsetCommit, EndTxn: the
// consume-transform-produce loop of Kafka Streams' exactly-once), while
// they crash, join and leave and the group coordinator's node is killed.
// Checked: committed offsets never go back, and the output read with
// read_committed holds every input below the final committed offsets
// exactly once, with the value acked there, and nothing else; and the
// group commits up to the input's end offsets within 60 s of the heal (no
// allowance: a stall here was the TxnOffsetCommit bug, docs/reliability.md).
func init() {
	register(scenario{id: "F18b", fault: "F18 with offsets committed in transactions (GroupTransactSession copy loop): members crashed (no leave) and replaced under the same transactional id, join/leave, the group coordinator's node SIGKILLed and restarted",
		partitions: 3, props: txnProps, nemesis: killCoordinator, side: startCTPWorkload, soakOnly: true})
}

const ctpOutput = "chaos-ctp-out"

// ctpWorkload is the transactional group workload. Each member runs in a
// slot whose transactional id it keeps: a member that replaces a crashed
// one takes its slot, so InitProducerID fences the dead one's transaction.
type ctpWorkload struct {
	r   *run
	rng *rand.Rand // chaos goroutine only

	mu      sync.Mutex
	members map[int]*ctpMember // guarded by mu; live members by slot
	txns    map[string]int     // guarded by mu; EndTxn outcomes

	stopChaos, stopWatch context.CancelFunc
	chaosDone, watchDone chan struct{}
	closing              sync.WaitGroup
	crashes, joins, left int // chaos goroutine only
}

type ctpMember struct {
	slot int
	dial *crashDialer
	stop context.CancelFunc
	done chan struct{}
}

const (
	ctpSlots      = 4
	ctpTxnTimeout = 20 * time.Second
)

func startCTPWorkload(r *run) func() {
	createTxnTopic(r, ctpOutput, 3)
	w := &ctpWorkload{r: r, rng: rand.New(rand.NewPCG(r.rng.Uint64(), 181)), members: map[int]*ctpMember{},
		txns: map[string]int{}, chaosDone: make(chan struct{}), watchDone: make(chan struct{})}
	w.join(0)
	w.join(1)
	g := &groupWorkload{r: r, committed: map[int32]int64{}} // its offset reader and observer
	var ctx context.Context
	ctx, w.stopWatch = context.WithCancel(r.ctx)
	go func() { defer close(w.watchDone); g.watch(ctx) }()
	ctx, w.stopChaos = context.WithCancel(r.ctx)
	go func() { defer close(w.chaosDone); w.chaos(ctx) }()
	return func() { w.check(g) }
}

// join starts a member in slot.
func (w *ctpWorkload) join(slot int) {
	ctx, stop := context.WithCancel(w.r.ctx)
	m := &ctpMember{slot: slot, dial: &crashDialer{}, stop: stop, done: make(chan struct{})}
	w.mu.Lock()
	w.members[slot] = m
	w.mu.Unlock()
	w.closing.Add(1)
	go func() {
		defer w.closing.Done()
		defer close(m.done)
		w.run(ctx, m)
	}()
}

// session opens a GroupTransactSession for m's slot.
func (w *ctpWorkload) session(m *ctpMember) (*kgo.GroupTransactSession, error) {
	return kgo.NewGroupTransactSession(
		kgo.SeedBrokers(w.r.c.seeds()...),
		kgo.TransactionalID(fmt.Sprintf("chaos-ctp-%d", m.slot)),
		// Longer than a rebalance (RebalanceTimeout): a session's
		// transaction spans one when a member joins or dies.
		kgo.TransactionTimeout(ctpTxnTimeout),
		kgo.ConsumerGroup(chaosGroup),
		kgo.ConsumeTopics(w.r.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(ctpOutput),
		kgo.ProducerLinger(0),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(15*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.Dialer(m.dial.DialContext),
		kgo.ClientID(fmt.Sprintf("chaos-ctp-%d", m.slot)),
	)
}

// run runs sessions until ctx ends: a session whose Begin or End fails
// (kgo: not retryable) is closed and a new one takes over under the same
// transactional id. When ctx ends the session is closed as a crashed
// process leaves it (connections cut, no LeaveGroup, no EndTxn) or, if m
// was not crashed, gracefully (it leaves the group).
func (w *ctpWorkload) run(ctx context.Context, m *ctpMember) {
	for ctx.Err() == nil {
		sess, err := w.session(m)
		if err != nil {
			w.r.problem("ctp slot %d: %v", m.slot, err)
			return
		}
		w.copy(ctx, m, sess)
		if crashed(m.dial) {
			cctx, cancel := context.WithCancel(context.Background())
			cancel()
			sess.Client().LeaveGroupContext(cctx) // dead connections: does not wait
			sess.CloseAllowingRebalance()
			return
		}
		sess.Close()
	}
}

// copy runs the consume-transform-produce loop until ctx ends or a
// transaction fails: each output record's key names its input
// ("partition/offset"), its value is the input's.
func (w *ctpWorkload) copy(ctx context.Context, m *ctpMember, sess *kgo.GroupTransactSession) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollFetches(pctx)
		cancel()
		var out []*kgo.Record
		fs.EachRecord(func(rec *kgo.Record) {
			out = append(out, &kgo.Record{Key: fmt.Appendf(nil, "%d/%d", rec.Partition, rec.Offset), Value: rec.Value})
		})
		if len(out) == 0 || ctx.Err() != nil {
			continue
		}
		if err := sess.Begin(); err != nil {
			w.r.t.Logf("ctp slot %d: begin: %v", m.slot, err)
			w.outcome("begin failed")
			return
		}
		commit := kgo.TryCommit
		if err := sess.ProduceSync(ctx, out...).FirstErr(); err != nil {
			commit = kgo.TryAbort
		}
		ectx, ecancel := context.WithTimeout(ctx, ctpTxnTimeout+10*time.Second)
		committed, err := sess.End(ectx, commit)
		ecancel()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				w.r.t.Logf("ctp slot %d: end: %v (new session)", m.slot, err)
			}
			w.outcome("end error")
			return
		case committed:
			w.outcome("committed")
		default:
			w.outcome("aborted")
		}
	}
}

func crashed(d *crashDialer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.crashed
}

func (w *ctpWorkload) outcome(k string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.txns[k]++
}

// crash cuts m off without a LeaveGroup or an EndTxn; its slot is free.
func (w *ctpWorkload) crash(m *ctpMember) {
	w.r.nemesis("crash-member", "ctp slot %d (no leave, transaction left open)", m.slot)
	m.dial.crash()
	m.stop()
}

// leave stops m gracefully: it leaves the group (an open transaction is
// left to its timeout or to the next session of the slot).
func (w *ctpWorkload) leave(m *ctpMember) {
	w.r.nemesis("leave", "ctp slot %d", m.slot)
	m.stop()
}

func (w *ctpWorkload) remove(m *ctpMember) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.members, m.slot)
}

// live returns the live members and the free slots, in slot order.
func (w *ctpWorkload) live() (live []*ctpMember, free []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for s := range ctpSlots {
		if m, ok := w.members[s]; ok {
			live = append(live, m)
		} else {
			free = append(free, s)
		}
	}
	return live, free
}

// chaos acts every 2-4 s until ctx ends, as groupWorkload.chaos does: every
// other time a member crashes and a new one takes its slot 0.5-1.5 s
// later, otherwise one joins or leaves.
func (w *ctpWorkload) chaos(ctx context.Context) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(2000+w.rng.IntN(2000)) * time.Millisecond):
		}
		live, free := w.live()
		switch {
		case i%2 == 0 && len(live) > 0:
			m := pick(w.rng, live)
			w.remove(m)
			w.crash(m)
			w.crashes++
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(500+w.rng.IntN(1000)) * time.Millisecond):
			}
			w.r.nemesis("join", "ctp slot %d (replaces the crashed member)", m.slot)
			w.join(m.slot)
			w.joins++
		case len(free) > 0 && (len(live) < 2 || w.rng.IntN(2) == 0):
			s := pick(w.rng, free)
			w.r.nemesis("join", "ctp slot %d (%d live)", s, len(live))
			w.join(s)
			w.joins++
		case len(live) > 0:
			m := pick(w.rng, live)
			w.remove(m)
			w.leave(m)
			w.left++
		}
	}
}

// check runs after the final drain: the group must commit up to the
// input's end offsets (≤ 60 s), then the output read with read_committed
// must hold each input below the committed offsets exactly once.
func (w *ctpWorkload) check(g *groupWorkload) {
	r := w.r
	w.stopChaos()
	<-w.chaosDone
	if live, _ := w.live(); len(live) == 0 {
		w.join(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.seeds()...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		r.problem("ctp check: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	reached, ok := g.awaitCommittedToEnd(adm, "ctp check", 60*time.Second)
	if !ok {
		return
	}
	if !reached {
		w.explain(cl)
	}
	live, _ := w.live()
	for _, m := range live {
		w.remove(m)
		w.leave(m)
	}
	w.stopWatch()
	<-w.watchDone
	awaitClosed(r, &w.closing, "ctp members'")
	final, err := g.fetchCommitted(r.ctx, adm)
	if err != nil {
		r.problem("ctp check: final committed offsets: %v", err)
		return
	}
	g.observe(final)
	out := &txnWorkload{topic: ctpOutput, partitions: 3}
	if d, err := eventually(r.ctx, 30*time.Second, func() error { return out.stable(r.ctx, adm) }); err != nil {
		r.problem("output %s: last stable offset not at the high watermark %v after the members stopped: %v", ctpOutput, d.Round(time.Second), err)
	}
	got, err := readAll(r, ctpOutput)
	if err != nil {
		r.problem("read %s: %v", ctpOutput, err)
		return
	}
	acked := map[po]string{}
	for _, e := range r.h.Events() {
		if e.Type == "ok" && e.F == "send" {
			acked[po{e.Partition, e.Offset}] = e.Value
		}
	}
	count := map[po]int{}
	bad := 0
	for _, rec := range got {
		p, o, ok := parseInput(string(rec.Key))
		k := po{p, o}
		switch {
		case !ok:
			r.problem("output %s: record with key %q names no input", ctpOutput, rec.Key)
			continue
		case o >= final[p]:
			bad++
			if bad <= 5 {
				r.problem("output %s: committed copy of input %d/%d, at or above the committed offset %d", ctpOutput, p, o, final[p])
			}
		}
		if v, ok := acked[k]; ok && v != string(rec.Value) {
			r.problem("output %s: input %d/%d copied as %q, acked there: %q", ctpOutput, p, o, rec.Value, v)
		}
		count[k]++
	}
	dups, missing := 0, 0
	for p := range r.partitions {
		for o := int64(0); o < final[p]; o++ {
			switch n := count[po{p, o}]; {
			case n > 1:
				if dups++; dups <= 5 {
					r.problem("output %s: input %d/%d copied %d times", ctpOutput, p, o, n)
				}
			case n == 0:
				if missing++; missing <= 5 {
					r.problem("output %s: input %d/%d below the committed offset %d never copied", ctpOutput, p, o, final[p])
				}
			}
		}
	}
	if dups > 5 || missing > 5 || bad > 5 {
		r.problem("output %s: %d inputs copied more than once, %d never, %d above the committed offsets", ctpOutput, dups, missing, bad)
	}
	w.mu.Lock()
	txns := fmt.Sprint(w.txns)
	w.mu.Unlock()
	note := fmt.Sprintf("ctp: %d crashes, %d joins, %d leaves, transactions %s, %d outputs, committed %v",
		w.crashes, w.joins, w.left, txns, len(got), final)
	r.t.Log(note)
	r.note(note)
}

// explain logs why the group may be stuck: the stable committed offsets
// (OffsetFetch with RequireStable: UNSTABLE_OFFSET_COMMIT while a
// transaction holds a pending offset commit) and the slots' transactions.
func (w *ctpWorkload) explain(cl *kgo.Client) {
	r := w.r
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = chaosGroup, true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = r.topic
	for p := range r.partitions {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if resp, err := req.RequestWith(ctx, cl); err != nil {
		r.t.Logf("ctp: stable offset fetch: %v", err)
	} else {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				r.t.Logf("ctp: stable offset fetch %s/%d: offset %d, %v", t.Topic, p.Partition, p.Offset, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	in := &txnWorkload{topic: r.topic, partitions: r.partitions}
	r.t.Logf("ctp: input %s read_committed: %v", r.topic, in.stable(ctx, kadm.NewClient(cl)))
	var ids []string
	for s := range ctpSlots {
		ids = append(ids, fmt.Sprintf("chaos-ctp-%d", s))
	}
	txns, err := kadm.NewClient(cl).DescribeTransactions(ctx, ids...)
	if err != nil {
		r.t.Logf("ctp: describe transactions: %v", err)
		return
	}
	for _, t := range txns.Sorted() {
		r.t.Logf("ctp: transaction %s: state %s, producer %d/%d, partitions %v, err %v", t.TxnID, t.State, t.ProducerID, t.ProducerEpoch, t.Topics, t.Err)
	}
}

// parseInput parses an output key "partition/offset".
func parseInput(k string) (int32, int64, bool) {
	ps, offs, ok := strings.Cut(k, "/")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(offs, 10, 64)
	return int32(p), o, ok && err1 == nil && err2 == nil
}

// readAll reads every record of topic with read_committed from the start,
// until 5 s pass without one (the caller has waited for every last stable
// offset to reach its high watermark).
func readAll(r *run, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(r.ctx, 90*time.Second)
	defer cancel()
	var out []*kgo.Record
	quiet := time.Now()
	for time.Since(quiet) < 5*time.Second {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			return out, fmt.Errorf("read %s: %w", topic, ctx.Err())
		}
		fs.EachRecord(func(rec *kgo.Record) {
			out = append(out, rec)
			quiet = time.Now()
		})
	}
	return out, nil
}
