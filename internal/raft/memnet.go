package raft

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Receiver takes delivered messages; *Node satisfies it.
type Receiver interface {
	Receive(m *raftpb.Message) bool
}

// MemNetwork is an in-memory network between raft nodes for tests and
// simulations, with seeded message drops, delays (in network steps) and
// partitions. Sent messages are cloned and queued; Step moves time one step
// and delivers what is due, in (due step, send order) order, to the
// registered Receivers. A simulation calls Step itself; live tests run Run.
// It is safe for concurrent use.
type MemNetwork struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	rng                *rand.Rand
	recv               map[uint64]Receiver
	dropRate           float64
	minDelay, maxDelay uint64
	cut                map[[2]uint64]bool // one-way links that are down
	queue              []inflight
	now, seq           uint64
	sent, dropped      uint64
	immediate          bool
}

type inflight struct {
	due, seq uint64
	m        *raftpb.Message
}

// memQueueLimit bounds the messages in flight; beyond it, sends are dropped.
const memQueueLimit = 1 << 16

// NewMemNetwork returns a network whose random choices come from seed.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{
		rng:  rand.New(rand.NewPCG(seed, 0x6b61766b61)),
		recv: make(map[uint64]Receiver),
		cut:  make(map[[2]uint64]bool),
	}
}

// Register makes id reachable through r (replacing an earlier Receiver, as
// after a restart). A nil r makes id unreachable.
func (n *MemNetwork) Register(id uint64, r Receiver) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r == nil {
		delete(n.recv, id)
		return
	}
	n.recv[id] = r
}

// Transport returns the Transport of node id.
func (n *MemNetwork) Transport(id uint64) Transport { return memEndpoint{n: n, id: id} }

// SetDropRate makes each delivery fail with probability p.
func (n *MemNetwork) SetDropRate(p float64) {
	n.mu.Lock()
	n.dropRate = p
	n.mu.Unlock()
}

// SetDelay delays each message by a uniformly random number of steps in
// [lo, hi] (at least 1: a message sent during step s arrives at step s+1 or
// later). SetDelay(0, 0) delivers during Send instead (for live nodes,
// whose Receive never blocks; not for simulations, which must not be
// re-entered).
func (n *MemNetwork) SetDelay(lo, hi uint64) {
	n.mu.Lock()
	n.immediate = lo == 0 && hi == 0
	n.minDelay, n.maxDelay = max(lo, 1), max(hi, lo, 1)
	n.mu.Unlock()
}

// Cut takes the one-way link from → to down.
func (n *MemNetwork) Cut(from, to uint64) {
	n.mu.Lock()
	n.cut[[2]uint64{from, to}] = true
	n.mu.Unlock()
}

// Disconnect takes both directions between a and b down.
func (n *MemNetwork) Disconnect(a, b uint64) {
	n.mu.Lock()
	n.cut[[2]uint64{a, b}] = true
	n.cut[[2]uint64{b, a}] = true
	n.mu.Unlock()
}

// Partition splits the given nodes into groups that cannot talk to each
// other; links inside a group are left as they are.
func (n *MemNetwork) Partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.cut[[2]uint64{a, b}] = true
				}
			}
		}
	}
}

// Heal brings every link back up (drop rate and delay are kept).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// Stats returns how many messages were sent and dropped so far.
func (n *MemNetwork) Stats() (sent, dropped uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.dropped
}

type memEndpoint struct {
	n  *MemNetwork
	id uint64
}

func (e memEndpoint) Send(msgs []*raftpb.Message) {
	n := e.n
	n.mu.Lock()
	if n.immediate {
		out := make([]delivery, 0, len(msgs))
		for _, m := range msgs {
			n.sent++
			if d, ok := n.routeLocked(m); ok {
				d.m = proto.Clone(m).(*raftpb.Message)
				out = append(out, d)
			}
		}
		n.mu.Unlock()
		for _, d := range out {
			d.r.Receive(d.m)
		}
		return
	}
	defer n.mu.Unlock()
	for _, m := range msgs {
		n.sent++
		if len(n.queue) >= memQueueLimit {
			n.dropped++
			continue
		}
		d := max(n.minDelay, 1)
		if n.maxDelay > d {
			d += n.rng.Uint64N(n.maxDelay - d + 1)
		}
		n.seq++
		n.queue = append(n.queue, inflight{due: n.now + d, seq: n.seq, m: proto.Clone(m).(*raftpb.Message)})
	}
}

type delivery struct {
	r Receiver
	m *raftpb.Message
}

// routeLocked decides whether m is delivered, and to whom. n.mu must be held.
func (n *MemNetwork) routeLocked(m *raftpb.Message) (delivery, bool) {
	r := n.recv[m.GetTo()]
	if r == nil || n.cut[[2]uint64{m.GetFrom(), m.GetTo()}] ||
		(n.dropRate > 0 && n.rng.Float64() < n.dropRate) {
		n.dropped++
		return delivery{}, false
	}
	return delivery{r: r, m: m}, true
}

// Step advances the network by one step and delivers the messages that are
// due. It returns how many were delivered.
func (n *MemNetwork) Step() int {
	n.mu.Lock()
	n.now++
	var due []inflight
	keep := n.queue[:0]
	for _, f := range n.queue {
		if f.due <= n.now {
			due = append(due, f)
		} else {
			keep = append(keep, f)
		}
	}
	n.queue = keep
	slices.SortFunc(due, func(a, b inflight) int {
		if c := cmp.Compare(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]delivery, 0, len(due))
	for _, f := range due {
		if d, ok := n.routeLocked(f.m); ok {
			out = append(out, d)
		}
	}
	n.mu.Unlock()
	for _, d := range out {
		d.r.Receive(d.m)
	}
	return len(out)
}

// Run calls Step every interval until ctx is done.
func (n *MemNetwork) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.Step()
		}
	}
}
