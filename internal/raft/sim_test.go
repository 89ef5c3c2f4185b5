package raft

import (
	"encoding/binary"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/cryptotest"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kavka-io/kavka/internal/vfs"
)

var (
	flagSeeds = flag.Int("raft.seeds", 100, "number of simulation seeds to run")
	flagSeed  = flag.Uint64("raft.seed", 0, "run only this simulation seed (replay)")
	flagTicks = flag.Int("raft.ticks", 500, "ticks of faults per simulation seed")
)

// simSeeds returns the seeds to run: -raft.seed alone, or -raft.seeds of
// them starting at 1.
func simSeeds() []uint64 {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}
	}
	s := make([]uint64, *flagSeeds)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

// simApp is a node's state machine: a hash chain over the applied payloads.
// Its snapshot is (last data index, hash).
type simApp struct {
	c         *simCluster
	id        uint64
	lastIndex uint64 // last index seen by Apply or Restore
	lastData  uint64 // last index that carried data
	hash      uint64
}

func chain(h, index uint64, data []byte) uint64 {
	f := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], h)
	binary.LittleEndian.PutUint64(b[8:], index)
	f.Write(b[:])
	f.Write(data)
	return f.Sum64()
}

func (a *simApp) Apply(index uint64, data []byte) {
	c := a.c
	if index <= a.lastIndex {
		c.failf("node %d: Apply(%d) after %d: applied index went backwards", a.id, index, a.lastIndex)
	}
	a.lastIndex, a.lastData = index, index
	a.hash = chain(a.hash, index, data)
	if prev, ok := c.log[index]; ok {
		if string(prev) != string(data) {
			c.failf("node %d: committed entry %d changed: %q, first applied as %q", a.id, index, data, prev)
		}
		if c.hashAt[index] != a.hash {
			c.failf("node %d: applied log diverges at %d (hash %x, others %x): an earlier committed entry differs or is missing", a.id, index, a.hash, c.hashAt[index])
		}
	} else {
		c.log[index] = slices.Clone(data)
		c.hashAt[index] = a.hash
	}
	c.maxApplied = max(c.maxApplied, index)
}

func (a *simApp) Restore(index uint64, data []byte) error {
	if index < a.lastIndex {
		a.c.failf("node %d: Restore(%d) below applied %d", a.id, index, a.lastIndex)
	}
	a.lastIndex, a.lastData, a.hash = index, 0, 0
	a.c.restores++
	if len(data) == 0 {
		return nil
	}
	if len(data) != 16 {
		return fmt.Errorf("bad snapshot of %d bytes", len(data))
	}
	a.lastData = binary.LittleEndian.Uint64(data[:8])
	a.hash = binary.LittleEndian.Uint64(data[8:])
	if a.lastData > 0 && a.c.hashAt[a.lastData] != a.hash {
		a.c.failf("node %d: snapshot at %d has hash %x for index %d, committed log says %x", a.id, index, a.hash, a.lastData, a.c.hashAt[a.lastData])
	}
	return nil
}

func (a *simApp) Snapshot() ([]byte, error) {
	b := binary.LittleEndian.AppendUint64(nil, a.lastData)
	return binary.LittleEndian.AppendUint64(b, a.hash), nil
}

// simNode is one member: its disk survives crashes, its core does not.
type simNode struct {
	id      uint64
	fs      *vfs.MemFS
	core    *core // nil while crashed
	app     *simApp
	inbox   []*raftpb.Message
	learner bool

	// What the node revealed through its messages, which its disk must
	// still back after a crash.
	maxTerm uint64            // highest term of a non-prevote message sent
	votes   map[uint64]uint64 // term → candidate it granted its vote to
	// Its durable state when it crashed: every Ready with entries or a
	// term or vote change is synced before anything is sent, so all of it
	// must come back.
	crashed struct{ last, lastTerm, term, vote uint64 }
}

func (n *simNode) Receive(m *raftpb.Message) bool {
	if n.core == nil || len(n.inbox) >= 4096 {
		return false
	}
	n.inbox = append(n.inbox, m)
	return true
}

// simTransport records what a node sends, then hands it to the network.
type simTransport struct {
	n   *simNode
	net Transport
}

func (t simTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		switch m.GetType() {
		case raftpb.MsgPreVote, raftpb.MsgPreVoteResp:
		default:
			t.n.maxTerm = max(t.n.maxTerm, m.GetTerm())
		}
		if m.GetType() == raftpb.MsgVoteResp && !m.GetReject() {
			t.n.votes[m.GetTerm()] = m.GetTo()
		}
	}
	t.net.Send(msgs)
}

type simCluster struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	net      *MemNetwork
	nodes    []*simNode
	voters   []uint64
	learners []uint64
	tick     int

	log        map[uint64][]byte // committed entries, as first applied
	hashAt     map[uint64]uint64 // hash chain after each committed data entry
	maxApplied uint64
	leaders    map[uint64]uint64 // term → leader

	proposed   int
	acked      map[uint64][]byte // acknowledged proposals: index → payload
	maxAck     uint64
	reads      int
	failed     bool
	crashes    int
	restores   int    // snapshots restored from the leader or disk
	transfers  int    // completed leadership transfers
	dynLearner uint64 // learner added at run time, 0 until then
}

func (c *simCluster) failf(format string, args ...any) {
	c.t.Helper()
	if !c.failed {
		c.t.Errorf("seed %d (replay: go test ./internal/raft -run TestSim -raft.seed=%d), tick %d: "+format,
			append([]any{c.seed, c.seed, c.tick}, args...)...)
	}
	c.failed = true
}

func newSimCluster(t *testing.T, seed uint64, voters, learners int) *simCluster {
	c := &simCluster{
		t: t, seed: seed,
		rng:     rand.New(rand.NewPCG(seed, 1)),
		net:     NewMemNetwork(seed),
		log:     make(map[uint64][]byte),
		hashAt:  make(map[uint64]uint64),
		leaders: make(map[uint64]uint64),
		acked:   make(map[uint64][]byte),
	}
	for i := 1; i <= voters; i++ {
		c.voters = append(c.voters, uint64(i))
	}
	for i := 0; i < learners; i++ {
		c.learners = append(c.learners, uint64(100+i))
	}
	for _, id := range slices.Concat(c.voters, c.learners) {
		c.addNode(id, slices.Contains(c.learners, id))
	}
	return c
}

func (c *simCluster) addNode(id uint64, learner bool) *simNode {
	n := &simNode{id: id, fs: vfs.NewMem(), learner: learner, votes: make(map[uint64]uint64)}
	c.nodes = append(c.nodes, n)
	c.net.Register(id, n)
	c.start(n)
	return n
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func (c *simCluster) start(n *simNode) {
	n.app = &simApp{c: c, id: n.id}
	cfg := Config{
		ID: n.id, FS: n.fs, Dir: "/raft",
		Voters: c.voters, Learners: c.learners,
		Transport:       simTransport{n: n, net: c.net.Transport(n.id)},
		ElectionTicks:   10,
		HeartbeatTicks:  1,
		Apply:           n.app.Apply,
		Restore:         n.app.Restore,
		Snapshot:        n.app.Snapshot,
		SnapshotEntries: 25,
		CatchUpEntries:  5,
		MaxSizePerMsg:   4 << 10,
		MaxInflightMsgs: 16,
		Logger:          discard,
	}
	co, err := newCore(cfg)
	if err != nil {
		c.failf("node %d: open: %v", n.id, err)
		return
	}
	n.core = co
	n.inbox = n.inbox[:0]
	// The disk must back everything the node said before it crashed.
	hs, _, _ := co.st.InitialState()
	if hs.GetTerm() < n.maxTerm {
		c.failf("node %d: hard state term %d after restart, but it sent messages at term %d", n.id, hs.GetTerm(), n.maxTerm)
	}
	if v, ok := n.votes[hs.GetTerm()]; ok && hs.GetVote() != v {
		c.failf("node %d: voted for %d in term %d, hard state after restart says %d", n.id, v, hs.GetTerm(), hs.GetVote())
	}
	last, _ := co.st.LastIndex()
	lastTerm, _ := co.st.Term(last)
	if want := n.crashed; want.last != 0 && (last != want.last || lastTerm != want.lastTerm || hs.GetTerm() != want.term || hs.GetVote() != want.vote) {
		c.failf("node %d: after restart log ends at %d (term %d), hard state term %d vote %d; before the crash %+v",
			n.id, last, lastTerm, hs.GetTerm(), hs.GetVote(), want)
	}
}

func (c *simCluster) crash(n *simNode, torn bool) {
	c.crashes++
	hs, _, _ := n.core.st.InitialState()
	last, _ := n.core.st.LastIndex()
	lastTerm, _ := n.core.st.Term(last)
	n.crashed.last, n.crashed.lastTerm, n.crashed.term, n.crashed.vote = last, lastTerm, hs.GetTerm(), hs.GetVote()
	if torn {
		n.fs = n.fs.CrashCloneTorn(c.rng)
	} else {
		n.fs = n.fs.CrashClone()
	}
	n.core = nil // its open files belong to the old file system
	n.inbox = nil
}

func (c *simCluster) live() []*simNode {
	var out []*simNode
	for _, n := range c.nodes {
		if n.core != nil {
			out = append(out, n)
		}
	}
	return out
}

func (c *simCluster) leader() *simNode {
	var best *simNode
	for _, n := range c.live() {
		if n.core.isLeader() && (best == nil || n.core.term > best.core.term) {
			best = n
		}
	}
	return best
}

// round delivers one network step and lets every live node process it.
func (c *simCluster) round() {
	c.net.Step()
	for _, n := range c.live() {
		for len(n.inbox) > 0 && n.core != nil {
			m := n.inbox[0]
			n.inbox = n.inbox[1:]
			n.core.step(m)
		}
		if err := n.core.handleReady(); err != nil {
			c.failf("node %d: %v", n.id, err)
			return
		}
		if n.core.isLeader() {
			if l, ok := c.leaders[n.core.term]; ok && l != n.id {
				c.failf("two leaders in term %d: %d and %d", n.core.term, l, n.id)
			}
			c.leaders[n.core.term] = n.id
		}
	}
}

func (c *simCluster) step() {
	c.tick++
	for _, n := range c.live() {
		n.core.tick()
	}
	for range 3 {
		c.round()
	}
}

func (c *simCluster) propose() {
	l := c.leader()
	if l == nil {
		return
	}
	c.proposed++
	payload := fmt.Appendf(nil, "p%d", c.proposed)
	l.core.propose(payload, func(index uint64, err error) {
		if err != nil {
			return // not acknowledged: may or may not commit
		}
		if string(c.log[index]) != string(payload) {
			c.failf("proposal %q acknowledged at %d, but the committed entry there is %q", payload, index, c.log[index])
		}
		c.acked[index] = payload
		c.maxAck = max(c.maxAck, index)
	})
}

func (c *simCluster) read() {
	live := c.live()
	if len(live) == 0 {
		return
	}
	n := live[c.rng.IntN(len(live))]
	ackedBefore := c.maxAck
	c.reads++
	n.core.readIndex(func(index uint64, err error) {
		if err != nil {
			return
		}
		if index < ackedBefore {
			c.failf("node %d: read index %d below %d, acknowledged before the read began", n.id, index, ackedBefore)
		}
		if n.core != nil && n.core.applied < index {
			c.failf("node %d: read answered at %d with applied %d", n.id, index, n.core.applied)
		}
	})
}

// nemesis applies one random fault.
func (c *simCluster) nemesis() {
	ids := make([]uint64, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	switch c.rng.IntN(9) {
	case 0: // majority / minority
		c.net.Heal()
		p := slices.Clone(ids)
		c.rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		k := 1 + c.rng.IntN(len(p)/2)
		c.net.Partition(p[:k], p[k:])
	case 1: // majority ring over the voters: each sees a different majority
		c.net.Heal()
		v := slices.Clone(c.voters)
		c.rng.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
		for i := range v {
			for j := range v {
				d := (j - i + len(v)) % len(v)
				if d > len(v)/2 && len(v)-d > len(v)/2 {
					c.net.Disconnect(v[i], v[j])
				}
				if len(v) == 3 && d == 2 && i == 0 {
					c.net.Disconnect(v[i], v[j]) // 3 voters: a line, the middle sees both
				}
			}
		}
	case 2: // isolate the leader
		if l := c.leader(); l != nil {
			c.net.Heal()
			c.net.Partition([]uint64{l.id}, slices.DeleteFunc(slices.Clone(ids), func(x uint64) bool { return x == l.id }))
		}
	case 3, 4: // crash a node (the leader half the time), losing unsynced writes
		live := c.live()
		if len(live) == 0 {
			return
		}
		n := live[c.rng.IntN(len(live))]
		if l := c.leader(); l != nil && c.rng.IntN(2) == 0 {
			n = l
		}
		c.crash(n, c.rng.IntN(2) == 0)
	case 5: // restart crashed nodes
		for _, n := range c.nodes {
			if n.core == nil {
				c.start(n)
			}
		}
	case 6: // lossy, slow network
		c.net.SetDropRate(c.rng.Float64() * 0.3)
		c.net.SetDelay(1, 1+uint64(c.rng.IntN(4)))
	case 7: // heal
		c.net.Heal()
		c.net.SetDropRate(0)
		c.net.SetDelay(1, 1)
	case 8: // controlled shutdown: hand leadership to another voter
		if l := c.leader(); l != nil {
			to := c.voters[c.rng.IntN(len(c.voters))]
			l.core.transferLeadership(to, func(_ uint64, err error) {
				if err == nil {
					c.transfers++
				}
			})
		}
	}
}

func (c *simCluster) addLearner() {
	l := c.leader()
	if l == nil || c.dynLearner != 0 {
		return
	}
	id := uint64(200)
	l.core.changeMembership(raftpb.ConfChangeAddLearnerNode, id, func(_ uint64, err error) {
		if err == nil && c.dynLearner == 0 {
			c.dynLearner = id
		}
	})
	if c.nodeByID(id) == nil {
		// The new broker starts empty: it is in no initial configuration.
		n := &simNode{id: id, fs: vfs.NewMem(), learner: true, votes: make(map[uint64]uint64)}
		c.nodes = append(c.nodes, n)
		c.net.Register(id, n)
		c.start(n)
	}
}

func (c *simCluster) nodeByID(id uint64) *simNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// settle heals everything and requires progress and convergence within a
// bounded number of ticks.
func (c *simCluster) settle() {
	c.net.Heal()
	c.net.SetDropRate(0)
	c.net.SetDelay(1, 1)
	for _, n := range c.nodes {
		if n.core == nil {
			c.start(n)
		}
	}
	const bound = 400
	start := c.tick
	target := uint64(0)
	for c.tick-start < bound && !c.failed {
		c.step()
		if target == 0 {
			if l := c.leader(); l != nil {
				c.proposed++
				payload := fmt.Appendf(nil, "final%d", c.proposed)
				l.core.propose(payload, func(index uint64, err error) {
					if err == nil {
						c.acked[index] = payload
						c.maxAck = max(c.maxAck, index)
						target = index
					}
				})
			}
			continue
		}
		if c.converged(target) {
			return
		}
	}
	if !c.failed {
		var st []string
		for _, n := range c.nodes {
			st = append(st, fmt.Sprintf("%d:%s/t%d/applied%d", n.id, roleName(n.core.state), n.core.term, n.core.applied))
		}
		c.failf("no convergence within %d ticks after heal (target %d): %v", bound, target, st)
	}
}

func (c *simCluster) converged(target uint64) bool {
	var want uint64
	for i, n := range c.nodes {
		if n.id == 200 && c.dynLearner == 0 {
			continue // never added
		}
		if n.app.lastIndex < target {
			return false
		}
		if i == 0 {
			want = n.app.hash
		}
		if n.app.hash != want {
			return false
		}
	}
	return true
}

func (c *simCluster) run(ticks int) {
	for c.tick < ticks && !c.failed {
		if c.tick%25 == 0 && c.tick > 0 {
			c.nemesis()
		}
		if c.tick == ticks/3 {
			c.addLearner()
		}
		if c.rng.IntN(2) == 0 {
			c.propose()
		}
		if c.rng.IntN(10) == 0 {
			c.read()
		}
		c.step()
	}
	c.settle()
	// Every acknowledged proposal is in the final, agreed log.
	for idx, p := range c.acked {
		if string(c.log[idx]) != string(p) {
			c.failf("acknowledged proposal %q at %d lost: the log holds %q", p, idx, c.log[idx])
		}
	}
}

func TestSim(t *testing.T) {
	shapes := []struct{ voters, learners int }{{3, 1}, {5, 2}}
	var acked, proposed, reads, crashes, restores, terms, transfers int
	for _, seed := range simSeeds() {
		shape := shapes[seed%uint64(len(shapes))]
		ok := t.Run(fmt.Sprintf("seed=%d/voters=%d", seed, shape.voters), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed) // raft's election jitter reads crypto/rand
			c := newSimCluster(t, seed, shape.voters, shape.learners)
			c.run(*flagTicks)
			acked += len(c.acked)
			proposed += c.proposed
			reads += c.reads
			crashes += c.crashes
			restores += c.restores
			terms += len(c.leaders)
			transfers += c.transfers
		})
		if !ok {
			break
		}
	}
	t.Logf("%d seeds: %d proposals, %d acknowledged, %d reads, %d crashes, %d snapshot restores, %d elected leaders, %d leadership transfers",
		len(simSeeds()), proposed, acked, reads, crashes, restores, terms, transfers)
}
