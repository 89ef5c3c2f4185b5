package sim

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Config shapes one simulation run. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	Voters     int // controllers (and brokers): raft voters
	Learners   int // broker-only nodes: raft learners
	Topics     int // topics of Partitions partitions each, RF 3, min.insync.replicas 2
	Partitions int

	FaultTime time.Duration // how long faults and writes run
	HealTime  time.Duration // the bound on convergence after the heal (liveness)

	TickInterval      time.Duration // one raft tick
	SessionTimeout    time.Duration // broker.session.timeout.ms
	HeartbeatInterval time.Duration // broker.heartbeat.interval.ms
	ReplicaLagTimeMax time.Duration // replica.lag.time.max.ms
	RequestTimeout    time.Duration // a Store request, a produce
	RPCTimeout        time.Duration // one round trip
	FetchIdle         time.Duration // a follower's pause after an idle fetch round

	// CalmDiskFailure adds, after the final convergence, a disk failure
	// of one broker in the calm cluster (calmDiskFailure): failover within
	// a bound, then recovery by restart.
	CalmDiskFailure bool

	// TxnCheckEvery is how many steps apart checkTxnState compares every
	// replica's aborted index and last stable offset with its log (500;
	// 1 to find the step a replay's state went wrong at). It reads no
	// random number and writes nothing: the run is the same at any value.
	TxnCheckEvery int
}

// DefaultConfig is 3 controllers+brokers, 2 topics × 2 partitions, 8 s of
// faults.
func DefaultConfig() Config {
	return Config{
		Voters: 3, Topics: 2, Partitions: 2,
		FaultTime: 8 * time.Second, HealTime: 60 * time.Second,
		TickInterval: 100 * time.Millisecond, SessionTimeout: 3 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
		ReplicaLagTimeMax: 4 * time.Second, RequestTimeout: 5 * time.Second, RPCTimeout: time.Second,
		FetchIdle: 100 * time.Millisecond, TxnCheckEvery: 500,
	}
}

const (
	minISR = 2
	rf     = 3
)

// epoch0 is the wall-clock time at the start of every run.
var epoch0 = time.Unix(1_700_000_000, 0)

// Sim is one seeded run. Everything happens on the goroutine that calls
// Run, or on a task goroutine while Run waits for it.
type Sim struct {
	cfg    Config
	seed   uint64
	rng    *rand.Rand
	now    time.Duration
	events eventQueue
	evSeq  uint64
	nodes  []*node
	client *node

	// tasks
	runq    []*task
	live    map[uint64]*task
	running *task
	yieldc  chan yield
	taskSeq uint64
	waitSeq uint64

	// network
	netc          netConfig
	cuts          map[[2]int32]bool
	cutEnd        map[[2]int32]uint64 // the cut whose timer heals the link
	cutGen        uint64
	sent, dropped int

	// workload and checker state
	ck          checker
	why         string        // the first unmet convergence condition
	lastUncalm  time.Duration // the last step at which a fault other than a disk's was active
	workloadEnd time.Duration // writes and reads stop here
	trace       []string
	failure     string
	Stats       Stats
	// checking: a check reads production logs; the disk faults spare its
	// reads, which must not take a log offline (diskView).
	checking bool
}

// Stats are counters of one run, to see that a run did something.
type Stats struct {
	Events, Acked, Produced, Reads, Crashes, Elections int
	ControlledShutdowns                                int // ended with every leadership moved away
	Reassignments                                      int // AlterPartitionReassignments sent
	LogDirFailures                                     int // log directories gone offline
	IdempotentAcked                                    int // idempotent batches acknowledged
	Duplicates                                         int // idempotent retries the log recognised (Duplicate)
	FailoversChecked                                   int // log-dir failures checked against the failover bound
	LoadWaits                                          int // starts that failed to load the logs and waited for the probe
	TxnAcked                                           int // transactional batches acknowledged
	TxnCommitted, TxnAborted                           int // transactions ended, every marker acknowledged
	TxnEpochBumps                                      int // aborts with a bumped producer epoch
	TxnReads                                           int // read_committed reads on leaders during the run
}

// New builds a run of seed; nothing runs until Run.
func New(seed uint64, cfg Config) *Sim {
	def := DefaultConfig()
	cfg.Voters = cmp.Or(cfg.Voters, def.Voters)
	cfg.Topics = cmp.Or(cfg.Topics, def.Topics)
	cfg.Partitions = cmp.Or(cfg.Partitions, def.Partitions)
	cfg.FaultTime = cmp.Or(cfg.FaultTime, def.FaultTime)
	cfg.HealTime = cmp.Or(cfg.HealTime, def.HealTime)
	cfg.TickInterval = cmp.Or(cfg.TickInterval, def.TickInterval)
	cfg.SessionTimeout = cmp.Or(cfg.SessionTimeout, def.SessionTimeout)
	cfg.HeartbeatInterval = cmp.Or(cfg.HeartbeatInterval, def.HeartbeatInterval)
	cfg.ReplicaLagTimeMax = cmp.Or(cfg.ReplicaLagTimeMax, def.ReplicaLagTimeMax)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, def.RequestTimeout)
	cfg.RPCTimeout = cmp.Or(cfg.RPCTimeout, def.RPCTimeout)
	cfg.FetchIdle = cmp.Or(cfg.FetchIdle, def.FetchIdle)
	cfg.TxnCheckEvery = cmp.Or(cfg.TxnCheckEvery, def.TxnCheckEvery)
	s := &Sim{
		cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6b61766b61)),
		live: map[uint64]*task{}, yieldc: make(chan yield),
		netc: calmNet, cuts: map[[2]int32]bool{}, cutEnd: map[[2]int32]uint64{},
		client: &node{id: 0, up: true, clk: clock.NewFake(epoch0)},
	}
	s.ck.init()
	for i := range cfg.Voters + cfg.Learners {
		n := &node{id: int32(i + 1), voter: i < cfg.Voters, fs: vfs.NewMem(), clk: clock.NewFake(epoch0)}
		s.nodes = append(s.nodes, n)
	}
	return s
}

// Failure returns the first invariant violation, or "".
func (s *Sim) Failure() string { return s.failure }

// Trace returns the last events of the run, oldest first.
func (s *Sim) Trace() []string { return s.trace }

const traceLen = 80

func (s *Sim) logf(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", s.now.Seconds()) + fmt.Sprintf(format, args...)
	if len(s.trace) >= traceLen {
		s.trace = append(s.trace[:0], s.trace[1:]...)
	}
	s.trace = append(s.trace, line)
}

func (s *Sim) fail(format string, args ...any) {
	if s.failure != "" {
		return
	}
	s.failure = fmt.Sprintf("at %v: ", s.now) + fmt.Sprintf(format, args...)
	s.logf("FAIL: %s", s.failure)
}

// Run runs the simulation: start-up and topic creation, writes and faults
// for FaultTime, heal, convergence (bounded by HealTime), the final checks.
// It returns the failure, or "" if every invariant held.
func (s *Sim) Run() string {
	defer s.shutdown()
	for _, n := range s.nodes {
		if err := s.start(n); err != nil {
			s.fail("%v", err)
			return s.failure
		}
	}
	if !s.runUntil(30*time.Second, s.setup) {
		s.fail("liveness: topics not created and led within 30s of the start")
		return s.failure
	}
	s.logf("setup done")
	faultEnd := s.now + s.cfg.FaultTime
	s.scheduleWorkload(faultEnd)
	s.scheduleNemeses(faultEnd)
	s.runFor(s.cfg.FaultTime)
	if s.failure != "" {
		return s.failure
	}
	s.heal()
	if !s.runUntil(s.cfg.HealTime, s.converged) {
		s.fail("liveness: no convergence within %v of the heal: %s", s.cfg.HealTime, s.why)
		return s.failure
	}
	// G-LIVE: acks=all writes succeed again on every partition.
	s.ck.ackedAfterHeal = map[tp]bool{}
	s.scheduleWorkload(s.now + 10*time.Second)
	if !s.runUntil(10*time.Second, func() bool { return len(s.ck.ackedAfterHeal) == len(s.partitions()) }) {
		s.fail("liveness: after the heal, only %d of %d partitions acknowledged a write within 10s", len(s.ck.ackedAfterHeal), len(s.partitions()))
		return s.failure
	}
	s.workloadEnd = s.now
	if !s.runUntil(s.cfg.HealTime, s.converged) {
		s.fail("liveness: no convergence within %v after the last writes: %s", s.cfg.HealTime, s.why)
		return s.failure
	}
	if s.cfg.CalmDiskFailure {
		s.calmDiskFailure()
		if s.failure != "" {
			return s.failure
		}
	}
	s.settleTxns()
	if s.failure != "" {
		return s.failure
	}
	s.finalChecks()
	return s.failure
}

// calmDiskFailure fails the disk of one broker holding replicas in the
// converged cluster, under writes: its log directory must go offline,
// the controller must move its leaderships and ISR memberships away
// within logDirFailoverBound (checkLogDirFailover), and once the disk is
// back the broker must restart and the cluster converge again (ADR 0006).
func (s *Sim) calmDiskFailure() {
	var cands []*node
	for _, n := range s.nodes {
		if n.inc != nil && len(n.inc.logs) > 0 {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return
	}
	n := cands[s.rng.IntN(len(cands))]
	s.failDisk(n, false)
	s.logf("calm: disk of %d fails (%s)", n.id, diskFaultName(n))
	s.scheduleWorkload(s.now + 10*time.Second)
	if !s.runUntil(5*time.Second, func() bool { return n.inc != nil && n.inc.dirOffline }) {
		s.fail("liveness: the failed disk of node %d took no log offline within 5s of writes", n.id)
		return
	}
	inc := n.inc
	if !s.runUntil(logDirFailoverBound+time.Second, func() bool { return inc.failoverChecked }) && s.failure == "" {
		s.fail("BUG: sim: the calm log-dir failure of node %d was not checked", n.id)
		return
	}
	s.liftDiskFault(n)
	s.workloadEnd = s.now
	if !s.runUntil(s.cfg.HealTime, s.converged) {
		s.fail("liveness: no convergence within %v after the disk of node %d recovered: %s", s.cfg.HealTime, n.id, s.why)
	}
}

// step runs the next event and everything it makes runnable, then the
// invariants. It reports false when there is nothing left to run.
func (s *Sim) step() bool {
	if s.events.Len() == 0 {
		return false
	}
	e := heap.Pop(&s.events).(*event)
	if e.at > s.now {
		s.now = e.at
		for _, n := range s.nodes {
			n.clk.Set(epoch0.Add(s.now + n.skew))
		}
		s.client.clk.Set(epoch0.Add(s.now))
	}
	if n := e.node; n != nil {
		if n.life != e.life || !n.up {
			return true
		}
		if n.paused {
			// Runs when the pause ends, after the event that ends it.
			s.evSeq++
			e.at, e.seq = n.pauseEnd, s.evSeq
			heap.Push(&s.events, e)
			return true
		}
	}
	s.Stats.Events++
	e.fn()
	s.settle()
	s.checkAlways()
	return true
}

// runFor runs events for d of simulated time.
func (s *Sim) runFor(d time.Duration) {
	end := s.now + d
	for s.failure == "" && s.events.Len() > 0 && s.events[0].at <= end {
		s.step()
	}
	s.now = max(s.now, end)
}

// runUntil runs events until done reports true (checked after each
// event) or d of simulated time passed; it reports whether done held.
func (s *Sim) runUntil(d time.Duration, done func() bool) bool {
	end := s.now + d
	for s.failure == "" && s.now <= end {
		if done() {
			return true
		}
		if !s.step() {
			return false
		}
	}
	return false
}

// shutdown ends every task, so that no goroutine outlives the run.
func (s *Sim) shutdown() {
	for _, n := range s.nodes {
		if n.inc != nil {
			s.kill(n.inc)
			n.paused = false
		}
	}
	for _, id := range sortedKeys(s.live) {
		t := s.live[id]
		t.dead = true
		if t.wait != 0 {
			s.wake(t, t.wait, result{err: errNodeDown})
		}
	}
	for _, n := range s.nodes {
		for _, t := range n.held {
			s.runq = append(s.runq, t)
		}
		n.held = nil
	}
	for range 10_000 {
		if len(s.runq) == 0 {
			break
		}
		t := s.runq[0]
		s.runq = s.runq[1:]
		if !t.started {
			continue // never ran: no goroutine to end
		}
		s.runTask(t)
	}
	for _, n := range s.nodes {
		if n.inc != nil {
			_ = n.inc.raft.Close()
		}
	}
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Report formats a failure with the seed, the replay command and the
// trace's tail.
func (s *Sim) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s\nreplay: go test ./internal/sim -run TestSim -sim.seed=%d -v\nlast events:\n", s.seed, s.failure, s.seed)
	for _, l := range s.trace {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
