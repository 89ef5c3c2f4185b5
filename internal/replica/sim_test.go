package replica

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// The simulation of one partition with three replicas (STYLE C12): an
// in-memory transport, a MemFS per broker that loses what was not fsynced
// when the broker crashes, a fake clock, and a toy controller that commits
// AlterPartition proposals, fences brokers and moves leadership. Metadata
// reaches each broker late (a queue per broker delivered at random steps),
// so zombie leaders and stale followers happen. Every step is chosen by the
// seed; -replica.seed=S replays one run.
//
// Checked after every step: one leader per epoch; each broker's high
// watermark never moves back while it runs; no acknowledged record is ever
// truncated from a replica that holds it; an offset is acknowledged with at
// most one value; the current leader holds every acknowledged record. After
// the faults heal: the ISR is full again and every replica is byte-identical
// up to the high watermark.
var (
	flagSeed  = flag.Int64("replica.seed", -1, "run only this replica simulation seed")
	flagSeeds = flag.Int("replica.seeds", 500, "number of replica simulation seeds")
	flagSteps = flag.Int("replica.steps", 400, "steps per replica simulation seed")
)

const (
	simTopic  = "t"
	simMinISR = 2
	simDir    = "/data/t-0"
)

type simNode struct {
	id       int32
	fs       *vfs.MemFS
	log      *commitlog.Log
	m        *Manager
	alive    bool
	isolated bool
	metaQ    []State
	lastHW   int64
	life     int
}

type simProduce struct {
	node   *simNode
	life   int
	epoch  int32
	first  int64
	end    int64
	values []string
	seq    int32 // the idempotent producer's batch sequence; -1 for plain batches
}

// simIdem is an idempotent producer with one batch in flight, as a
// transactional franz-go producer is per partition after a retry: it
// sends the batch at seq until some leader acknowledges it (retries reach
// whichever broker leads), then the next. Every leader must therefore know
// each acknowledged batch: a duplicate answer must point at the batch in
// its log, and OUT_OF_ORDER_SEQUENCE_NUMBER would mean an acknowledged
// batch is missing (the F19 lost transactional record,
// docs/reliability.md).
type simIdem struct {
	seq    int32    // sequence of the batch in flight (or next)
	values []string // the batch in flight; nil: build the next one
	batch  []byte
}

// simProducerID is the idempotent producer's id (epoch 0).
const simProducerID = 7

type sim struct {
	t       testing.TB
	seed    int64
	rng     *rand.Rand
	clk     *clock.Fake
	nodes   []*simNode
	ctrl    State
	acked   map[int64]string
	pending []simProduce
	leaders map[int32]int32 // epoch → the broker that led it
	nextVal int
	events  []string
	failed  bool
	truncs  int
	elects  int
	idem    simIdem
	// zombieOOO counts OUT_OF_ORDER_SEQUENCE_NUMBER answers from stale
	// leaders (legitimate; see produceIdem).
	zombieOOO int
	chaos     int // fault weight multiplier: 1 (rare) to 10 (as common as work)
}

func TestSimReplication(t *testing.T) {
	seeds := make([]int64, 0, *flagSeeds)
	if *flagSeed >= 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := range *flagSeeds {
			seeds = append(seeds, int64(i+1))
		}
	}
	totalAcked, truncs, elects, zombieOOO := 0, 0, 0, 0
	deadline := time.Now().Add(40 * time.Second)
	ran := 0
	for _, seed := range seeds {
		if time.Now().After(deadline) {
			t.Logf("time budget spent after %d seeds", ran)
			break
		}
		ran++
		s := newSim(t, seed)
		s.run(*flagSteps)
		if s.failed {
			t.Fatalf("seed %d failed; replay with -run TestSimReplication -replica.seed=%d", seed, seed)
		}
		totalAcked += len(s.acked)
		truncs += s.truncs
		elects += s.elects
		zombieOOO += s.zombieOOO
	}
	if totalAcked == 0 {
		t.Fatal("no record was ever acknowledged: the simulation makes no progress")
	}
	t.Logf("%d seeds: %d records acknowledged, %d elections, %d follower truncations, %d out-of-order answers from stale leaders",
		ran, totalAcked, elects, truncs, zombieOOO)
}

func newSim(t testing.TB, seed int64) *sim {
	s := &sim{
		t: t, seed: seed, rng: rand.New(rand.NewSource(seed)),
		clk:   clock.NewFake(time.Unix(1_700_000_000, 0)),
		acked: map[int64]string{}, leaders: map[int32]int32{},
		chaos: []int{1, 3, 10}[seed%3],
		ctrl:  State{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}},
	}
	for id := int32(1); id <= 3; id++ {
		n := &simNode{id: id, fs: vfs.NewMem()}
		s.nodes = append(s.nodes, n)
		s.start(n)
	}
	return s
}

func (s *sim) logf(format string, args ...any) {
	s.events = append(s.events, fmt.Sprintf(format, args...))
	if len(s.events) > 150 {
		s.events = s.events[1:]
	}
}

func (s *sim) fail(format string, args ...any) {
	if s.failed {
		return
	}
	s.failed = true
	s.t.Errorf("seed %d: %s\nrecent events:\n  %s", s.seed, fmt.Sprintf(format, args...), strings.Join(s.events, "\n  "))
}

func (s *sim) node(id int32) *simNode { return s.nodes[id-1] }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start opens n's log from its file system and gives it a fresh manager.
func (s *sim) start(n *simNode) {
	cfg := commitlog.DefaultConfig()
	cfg.SegmentBytes = 1 << 14
	l, err := commitlog.Open(n.fs, simDir, cfg, commitlog.Options{Clock: s.clk, Logger: quiet})
	if err != nil {
		s.fail("open log of %d: %v", n.id, err)
		return
	}
	n.log = l
	n.m = NewManager(Config{NodeID: n.id, ReplicaLagTimeMax: 10 * time.Second, Clock: s.clk, Logger: quiet,
		Alter: simAlter{s, n}})
	n.m.onTruncate = func(_ string, _ int32, target, _ int64) { s.checkTruncate(n, target) }
	n.alive, n.lastHW = true, -1
	n.life++
	n.metaQ = []State{cloneState(s.ctrl)}
	s.deliver(n)
}

func cloneState(st State) State {
	st.Replicas, st.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
	return st
}

// publish sends the controller's state to every broker's queue.
func (s *sim) publish(why string) {
	s.logf("ctrl %s: leader=%d epoch=%d pepoch=%d isr=%v", why, s.ctrl.Leader, s.ctrl.LeaderEpoch, s.ctrl.PartitionEpoch, s.ctrl.ISR)
	for _, n := range s.nodes {
		n.metaQ = append(n.metaQ, cloneState(s.ctrl))
	}
}

func (s *sim) deliver(n *simNode) {
	if !n.alive || n.isolated {
		return
	}
	for _, st := range n.metaQ {
		if err := n.m.Apply(simTopic, 0, n.log, st); err != nil {
			s.fail("apply on %d: %v", n.id, err)
		}
	}
	n.metaQ = nil
}

// simAlter is the controller's AlterPartition as seen from one broker.
type simAlter struct {
	s *sim
	n *simNode
}

func (a simAlter) AlterPartition(_ context.Context, req AlterPartitionRequest) error {
	s, c := a.s, &a.s.ctrl
	if !a.n.alive || a.n.isolated {
		return errors.New("sim: controller unreachable")
	}
	if req.LeaderID != c.Leader || req.LeaderEpoch != c.LeaderEpoch || req.PartitionEpoch != c.PartitionEpoch {
		return fmt.Errorf("%w: %+v vs leader %d epoch %d/%d", ErrStaleState, req, c.Leader, c.LeaderEpoch, c.PartitionEpoch)
	}
	if !slices.Contains(req.NewISR, c.Leader) {
		return fmt.Errorf("%w: ISR without the leader", ErrProposalRejected)
	}
	for _, id := range req.NewISR {
		if !slices.Contains(c.Replicas, id) {
			return fmt.Errorf("%w: %d is not a replica", ErrProposalRejected, id)
		}
		if !slices.Contains(c.ISR, id) {
			if n := s.node(id); !n.alive || n.isolated {
				return fmt.Errorf("%w: %d is fenced", ErrProposalRejected, id) // KIP-903's idea
			}
		}
	}
	c.ISR = slices.Clone(req.NewISR)
	c.PartitionEpoch++
	s.publish(fmt.Sprintf("alter by %d", a.n.id))
	return nil
}

// simTransport delivers a follower's fetch in memory.
type simTransport struct {
	s    *sim
	from *simNode
}

func (t simTransport) Fetch(ctx context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	to := t.s.node(broker)
	if !to.alive || to.isolated || t.from.isolated {
		return nil, errors.New("sim: unreachable")
	}
	return to.m.ServeReplicaFetch(ctx, t.from.id, req, nil), nil
}

func (s *sim) reachable(n *simNode) bool { return n.alive && !n.isolated }

// elect makes a reachable ISR member other than avoid the leader, or none.
func (s *sim) elect(avoid int32, why string) {
	var cands []int32
	for _, id := range s.ctrl.ISR {
		if id != avoid && s.reachable(s.node(id)) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		if s.ctrl.Leader == avoid && avoid >= 0 {
			s.ctrl.Leader = -1
			s.ctrl.LeaderEpoch++
			s.ctrl.PartitionEpoch++
			s.publish(why + ": no leader")
		}
		return
	}
	s.elects++
	s.ctrl.Leader = cands[s.rng.Intn(len(cands))]
	s.ctrl.LeaderEpoch++
	s.ctrl.PartitionEpoch++
	s.publish(why)
}

// fence is the controller noticing a dead or unreachable broker: it leaves
// the ISR (unless it is the last member) and loses leadership.
func (s *sim) fence(n *simNode) {
	c := &s.ctrl
	if c.Leader == n.id {
		s.elect(n.id, fmt.Sprintf("fence %d", n.id))
	}
	if slices.Contains(c.ISR, n.id) && len(c.ISR) > 1 && c.Leader != n.id {
		c.ISR = slices.DeleteFunc(slices.Clone(c.ISR), func(id int32) bool { return id == n.id })
		c.PartitionEpoch++
		s.publish(fmt.Sprintf("fence %d", n.id))
	}
}

func (s *sim) produce(n *simNode) {
	p := n.m.Partition(simTopic, 0)
	if p == nil {
		return
	}
	k := 1 + s.rng.Intn(3)
	b := record.NewBuilder(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: s.clk.Now().UnixMilli()})
	var values []string
	for i := range k {
		v := fmt.Sprintf("s%d-v%d", s.seed, s.nextVal)
		s.nextVal++
		values = append(values, v)
		b.Add(record.Record{OffsetDelta: int32(i), Value: []byte(v)})
	}
	batch, err := b.Build(nil)
	if err != nil {
		s.fail("build batch: %v", err)
		return
	}
	res, epoch, err := p.AppendAsLeader(batch, -1, simMinISR)
	if err != nil {
		return // not leader, not enough replicas: the client retries elsewhere
	}
	s.logf("produce on %d epoch %d: offsets %d..%d", n.id, epoch, res.FirstOffset, res.LastOffset)
	s.pending = append(s.pending, simProduce{node: n, life: n.life, epoch: epoch, first: res.FirstOffset, end: res.LastOffset + 1, values: values, seq: -1})
}

// produceIdem sends the idempotent producer's batch in flight to n.
func (s *sim) produceIdem(n *simNode) {
	p := n.m.Partition(simTopic, 0)
	if p == nil {
		return
	}
	if s.idem.values == nil {
		k := 1 + s.rng.Intn(3)
		b := record.NewBuilder(record.BuilderOptions{ProducerID: simProducerID, ProducerEpoch: 0, BaseSequence: s.idem.seq,
			BaseTimestamp: s.clk.Now().UnixMilli()})
		for i := range k {
			v := fmt.Sprintf("s%d-p%d", s.seed, s.nextVal)
			s.nextVal++
			s.idem.values = append(s.idem.values, v)
			b.Add(record.Record{OffsetDelta: int32(i), Value: []byte(v)})
		}
		batch, err := b.Build(nil)
		if err != nil {
			s.fail("build batch: %v", err)
			return
		}
		s.idem.batch = batch
	}
	var res commitlog.ProducerAppendResult
	epoch, err := p.AppendWith(-1, simMinISR, func(e int32) (err error) {
		res, err = n.log.AppendProducer(slices.Clone(s.idem.batch), e, nil)
		return err
	})
	switch {
	case errors.Is(err, commitlog.ErrOutOfOrderSequence):
		// A zombie (a leader of an older epoch that has not heard of the
		// new one) may lack what the new leader acknowledged: the answer
		// is legitimate there, and franz-go fails the transaction on it.
		// The controller's current leader holds every acknowledged batch.
		if _, e := p.Role(); n.id == s.ctrl.Leader && e == s.ctrl.LeaderEpoch {
			s.fail("leader %d (epoch %d) answered seq %d with %v: an acknowledged batch of the producer is missing", n.id, e, s.idem.seq, err)
		} else {
			s.logf("stale leader %d answered seq %d: %v", n.id, s.idem.seq, err)
			s.zombieOOO++
		}
		return
	case err != nil:
		return // not leader, not enough replicas: the client retries elsewhere
	}
	s.logf("produce idempotent seq %d on %d epoch %d: offsets %d..%d (duplicate %v)", s.idem.seq, n.id, epoch,
		res.FirstOffset, res.LastOffset, res.Duplicate)
	s.pending = append(s.pending, simProduce{node: n, life: n.life, epoch: epoch, first: res.FirstOffset, end: res.LastOffset + 1,
		values: slices.Clone(s.idem.values), seq: s.idem.seq})
}

func (s *sim) checkAcks() {
	keep := s.pending[:0]
	for _, pr := range s.pending {
		n := pr.node
		if !n.alive || n.life != pr.life {
			continue // the broker died: the client never hears back
		}
		done, err := n.m.Partition(simTopic, 0).Committed(pr.epoch, pr.end, simMinISR) // exists: it took the append
		if !done {
			keep = append(keep, pr)
			continue
		}
		if err != nil {
			continue
		}
		s.logf("ack from %d: offsets %d..%d", n.id, pr.first, pr.end-1)
		// The acknowledging leader holds the values at the offsets it
		// answered (a duplicate answer points at the original batch).
		have := s.contents(n.log)
		if pr.seq >= 0 && pr.seq == s.idem.seq {
			s.idem.seq, s.idem.values, s.idem.batch = s.idem.seq+int32(len(pr.values)), nil, nil
		}
		for i, v := range pr.values {
			off := pr.first + int64(i)
			got, _, _ := strings.Cut(have[off], "@")
			if got != v {
				s.fail("broker %d acknowledged %q at offset %d, which holds %q", n.id, v, off, have[off])
				return
			}
			v = have[off]
			if old, ok := s.acked[off]; ok && old != v {
				s.fail("offset %d acknowledged twice: %q then %q", off, old, v)
			}
			s.acked[off] = v
		}
	}
	s.pending = keep
}

// contents reads every record of a log: offset → value.
func (s *sim) contents(l *commitlog.Log) map[int64]string {
	out := map[int64]string{}
	b := s.rawBytes(l, l.LogEndOffset())
	it := record.NewBatches(b)
	for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
		recs, err := record.DecodeRecords(batch, 1<<20)
		if err != nil {
			s.fail("decode batch at %d: %v", h.BaseOffset, err)
			return out
		}
		for _, r := range recs {
			// The batch's leader epoch tells two copies of one value
			// apart: the idempotent producer's retries carry the same
			// values, appended afresh by a leader that lacked them.
			out[h.BaseOffset+int64(r.OffsetDelta)] = fmt.Sprintf("%s@%d", r.Value, h.PartitionLeaderEpoch)
		}
	}
	return out
}

// rawBytes returns the log's batches whose last offset is below end.
func (s *sim) rawBytes(l *commitlog.Log, end int64) []byte {
	b, err := l.ReadBatches(nil, end)
	if err != nil {
		s.fail("%v", err)
	}
	return b
}

func (s *sim) checkTruncate(n *simNode, target int64) {
	have := s.contents(n.log)
	for off, v := range s.acked {
		if off >= target && have[off] == v {
			s.fail("broker %d truncates to %d, cutting acknowledged offset %d", n.id, target, off)
			return
		}
	}
	s.logf("truncate %d to %d", n.id, target)
	s.truncs++
}

func (s *sim) checkAlways() {
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		p := n.m.Partition(simTopic, 0)
		if p == nil {
			continue
		}
		snap := p.Snapshot()
		if snap.HighWatermark < n.lastHW {
			s.fail("broker %d high watermark went back from %d to %d", n.id, n.lastHW, snap.HighWatermark)
		}
		if snap.HighWatermark != n.lastHW {
			s.logf("hw %d: %d (leo %d durable %d, %s epoch %d isr %v)", n.id, snap.HighWatermark, snap.LogEndOffset, n.log.DurableOffset(), snap.Role, snap.LeaderEpoch, snap.ISR)
		}
		n.lastHW = snap.HighWatermark
		if snap.HighWatermark > snap.LogEndOffset {
			s.fail("broker %d high watermark %d above its log end %d", n.id, snap.HighWatermark, snap.LogEndOffset)
		}
		if snap.Role == RoleLeader {
			if prev, ok := s.leaders[snap.LeaderEpoch]; ok && prev != n.id {
				s.fail("epoch %d led by %d and %d", snap.LeaderEpoch, prev, n.id)
			}
			s.leaders[snap.LeaderEpoch] = n.id
		}
	}
}

// checkLeaderHasAcked: the broker that leads the controller's current epoch
// (once it knows) holds every acknowledged record.
func (s *sim) checkLeaderHasAcked() {
	if s.ctrl.Leader < 0 {
		return
	}
	n := s.node(s.ctrl.Leader)
	if !n.alive {
		return
	}
	p := n.m.Partition(simTopic, 0)
	if p == nil {
		return
	}
	if r, e := p.Role(); r != RoleLeader || e != s.ctrl.LeaderEpoch {
		return
	}
	have := s.contents(n.log)
	for off, v := range s.acked {
		if have[off] != v {
			s.fail("leader %d (epoch %d) has %q at acknowledged offset %d, want %q", n.id, s.ctrl.LeaderEpoch, have[off], off, v)
			return
		}
	}
}

func (s *sim) fetch(n *simNode) {
	for _, src := range n.m.Sources() {
		_, err := FetchOnce(context.Background(), n.m, src, simTransport{s, n}, 0)
		if err != nil && !errors.Is(err, errIdle) {
			s.logf("fetch %d←%d: %v", n.id, src, err)
		}
	}
}

func (s *sim) flush(n *simNode) {
	if err := n.log.Flush(); err != nil {
		s.fail("flush %d: %v", n.id, err)
	}
	if p := n.m.Partition(simTopic, 0); p != nil {
		p.LeaderDurable()
	}
}

// simOps are the step kinds with their weights; faults are scaled by the
// seed's chaos level so that some seeds mostly replicate and others mostly
// fail.
var simOps = []struct {
	name   string
	weight int
	fault  bool
}{
	{"produce", 22, false}, {"fetch", 25, false}, {"flush", 14, false}, {"deliver", 10, false},
	{"alter", 7, false}, {"tick", 5, false}, {"acks", 4, false},
	{"crash", 3, true}, {"isolate", 2, true}, {"fence", 3, true}, {"elect", 2, true}, {"restart", 6, true},
}

func (s *sim) pickOp() string {
	total := 0
	for _, o := range simOps {
		total += s.weight(o.weight, o.fault)
	}
	r := s.rng.Intn(total)
	for _, o := range simOps {
		if r -= s.weight(o.weight, o.fault); r < 0 {
			return o.name
		}
	}
	return "acks"
}

func (s *sim) weight(w int, fault bool) int {
	if fault {
		return w * s.chaos
	}
	return w * 10
}

func (s *sim) step() {
	n := s.nodes[s.rng.Intn(len(s.nodes))]
	op := s.pickOp()
	if !n.alive && op != "restart" && op != "fence" {
		return
	}
	switch op {
	case "restart":
		if n.alive {
			return
		}
		s.logf("restart %d", n.id)
		if s.rng.Intn(2) == 0 {
			s.fence(n) // the controller saw the old incarnation go
		}
		s.start(n)
		if s.ctrl.Leader < 0 {
			s.elect(-1, "election after restart")
		}
	case "fence":
		if !n.alive || n.isolated {
			s.fence(n)
		}
	case "produce":
		target := n
		if s.rng.Intn(5) > 0 && s.ctrl.Leader > 0 {
			target = s.node(s.ctrl.Leader)
		}
		switch {
		case !target.alive:
		case s.rng.Intn(2) == 0:
			s.produceIdem(target)
		default:
			s.produce(target)
		}
	case "fetch":
		s.fetch(n)
	case "flush":
		s.flush(n)
	case "deliver":
		s.deliver(n)
	case "alter":
		n.m.SendAlters(context.Background())
	case "tick":
		s.clk.Advance(time.Duration(s.rng.Intn(6000)) * time.Millisecond)
		n.m.ShrinkISRs()
	case "crash":
		s.logf("crash %d", n.id)
		n.fs = n.fs.CrashClone()
		n.alive, n.m, n.log = false, nil, nil
	case "isolate":
		n.isolated = !n.isolated
		s.logf("isolated %d = %v", n.id, n.isolated)
	case "elect":
		s.elect(s.ctrl.Leader, "move leadership")
	default:
		s.checkAcks()
	}
}

func (s *sim) run(steps int) {
	for i := 0; i < steps && !s.failed; i++ {
		s.step()
		if s.failed {
			return
		}
		s.checkAcks()
		s.checkAlways()
		if i%20 == 0 {
			s.checkLeaderHasAcked()
		}
	}
	if s.failed {
		return
	}
	s.heal()
}

// heal ends the faults and lets replication converge, then checks the
// end state.
func (s *sim) heal() {
	s.logf("heal")
	for _, n := range s.nodes {
		n.isolated = false
		if !n.alive {
			s.start(n)
		}
	}
	if s.ctrl.Leader < 0 {
		s.elect(-1, "heal election")
	}
	converged := false
	for round := 0; round < 300 && !s.failed; round++ {
		for _, n := range s.nodes {
			s.deliver(n)
			s.flush(n)
			s.fetch(n)
			n.m.SendAlters(context.Background())
		}
		s.checkAcks()
		s.checkAlways()
		ld := s.node(s.ctrl.Leader)
		snap := ld.m.Partition(simTopic, 0).Snapshot()
		if snap.Role != RoleLeader || len(s.ctrl.ISR) != 3 || snap.HighWatermark != ld.log.LogEndOffset() {
			continue
		}
		same := true
		for _, n := range s.nodes {
			if n.log.LogEndOffset() != snap.HighWatermark || n.m.Partition(simTopic, 0).HighWatermark() != snap.HighWatermark {
				same = false
			}
		}
		if same {
			converged = true
			break
		}
	}
	if s.failed {
		return
	}
	if !converged {
		s.fail("no convergence after healing: ctrl %+v", s.ctrl)
		return
	}
	s.checkLeaderHasAcked()
	ld := s.node(s.ctrl.Leader)
	hw := ld.m.Partition(simTopic, 0).HighWatermark()
	want := s.rawBytes(ld.log, hw)
	for _, n := range s.nodes {
		if got := s.rawBytes(n.log, hw); string(got) != string(want) {
			s.fail("broker %d differs from leader %d below the high watermark %d (%d vs %d bytes)", n.id, ld.id, hw, len(got), len(want))
		}
	}
}
