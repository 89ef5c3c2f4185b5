package raft

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Transport sends raft messages to peers.
type Transport interface {
	// Send queues msgs for delivery to their To nodes. It must not block;
	// it may drop messages (raft retries) and must not modify them. The
	// messages may be retained until sent.
	Send(msgs []*raftpb.Message)
}

// Status is a node's view of the group (what DescribeQuorum reports).
type Status struct {
	ID            uint64
	Leader        uint64 // 0 if unknown
	Term          uint64
	Vote          uint64
	Role          string // "leader", "follower", "candidate" or "pre-candidate"
	Commit        uint64 // highest index known committed
	Applied       uint64 // highest index applied locally
	LastIndex     uint64 // last index in the local log
	SnapshotIndex uint64 // index of the latest local snapshot
	Voters        []uint64
	Learners      []uint64
	// Progress of every member, as tracked by the leader; nil elsewhere.
	Progress map[uint64]Progress
}

// Progress is the leader's view of one member's replication.
type Progress struct {
	Match        uint64 // highest index known replicated there (its log end)
	Next         uint64 // next index to send
	Learner      bool
	RecentActive bool // heard from within the last election timeout
}

// Node runs one member of a raft group: the Ready loop of a go.etcd.io/raft
// RawNode over a WAL on vfs, a Transport, and the application's callbacks.
// All raft state is owned by the goroutine inside Run; the other methods
// talk to it through channels and are safe for concurrent use.
type Node struct {
	c      *core
	ticks  <-chan time.Time
	recvc  chan *raftpb.Message // bounded inbound queue; full means drop
	unreac chan uint64          // 1-buffered best-effort unreachable reports
	reqc   chan request         // unbuffered
	stopc  chan struct{}        // closed when Run returns
	status atomic.Pointer[Status]

	runMu   sync.Mutex
	ran     bool
	closeMu sync.Mutex
	closed  bool
}

type request struct {
	fn   func(done completion) uint64 // runs on the node goroutine; returns a seq to cancel, or 0
	done chan result                  // 1-buffered
	seqc chan uint64                  // 1-buffered: the seq, for cancellation
}

type result struct {
	index uint64
	err   error
}

// Open opens (or bootstraps) the node's storage and builds the raft node. It
// calls cfg.Restore if there is a snapshot. It starts no goroutine.
func Open(cfg Config) (*Node, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		c:      c,
		ticks:  cfg.Ticks,
		recvc:  make(chan *raftpb.Message, c.cfg.RecvQueue),
		unreac: make(chan uint64, 1),
		reqc:   make(chan request),
		stopc:  make(chan struct{}),
	}
	n.publish()
	return n, nil
}

// ID returns the node's raft id.
func (n *Node) ID() uint64 { return n.c.id }

// Receive queues a message from a peer for the node's goroutine. It never
// blocks: when the queue is full the message is dropped (raft retries) and
// Receive returns false. Transports call it.
func (n *Node) Receive(m *raftpb.Message) bool {
	select {
	case n.recvc <- m:
		return true
	default:
		return false
	}
}

// ReportUnreachable tells raft that a peer could not be reached, so that the
// leader probes it instead of streaming. Best effort; never blocks.
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.unreac <- id:
	default:
	}
}

// Run runs the Ready loop until ctx is done or storage fails. Pending
// requests fail with ErrStopped when it returns. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	n.runMu.Lock()
	if n.ran {
		n.runMu.Unlock()
		return fmt.Errorf("raft: node %d: Run called twice", n.c.id)
	}
	n.ran = true
	n.runMu.Unlock()
	defer close(n.stopc)
	defer n.c.failAll(ErrStopped)

	ticks := n.ticks
	if ticks == nil {
		t := time.NewTicker(n.c.cfg.TickInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			n.c.tick()
			n.c.refreshStatus()
		case m := <-n.recvc:
			n.c.step(m)
			// Drain what else is queued (bounded) before the next Ready, so
			// that one fsync covers many appends.
		drain:
			for i := 0; i < 64; i++ {
				select {
				case m := <-n.recvc:
					n.c.step(m)
				default:
					break drain
				}
			}
		case id := <-n.unreac:
			n.c.reportUnreachable(id)
		case r := <-n.reqc:
			r.seqc <- r.fn(func(index uint64, err error) { r.done <- result{index, err} })
		}
		if err := n.c.handleReady(); err != nil {
			return fmt.Errorf("raft: node %d: %w", n.c.id, err)
		}
		n.publish()
	}
}

// Close releases the node's files. Call it after Run has returned (or if
// Run was never called).
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.c.close()
}

func (n *Node) publish() {
	s := n.c.status
	n.status.Store(&s)
}

// Status returns the node's latest view of the group. It never blocks.
func (n *Node) Status() Status { return *n.status.Load() }

// do runs fn on the node goroutine and waits for its completion or ctx.
func (n *Node) do(ctx context.Context, fn func(done completion) uint64) (uint64, error) {
	r := request{fn: fn, done: make(chan result, 1), seqc: make(chan uint64, 1)}
	select {
	case n.reqc <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.stopc:
		return 0, ErrStopped
	}
	seq := <-r.seqc // sent right after fn returns, on the node goroutine
	select {
	case res := <-r.done:
		return res.index, res.err
	case <-ctx.Done():
		if seq != 0 {
			// Forget the request; if the node is gone, nothing waits anyway.
			select {
			case n.reqc <- request{fn: func(completion) uint64 { n.c.cancel(seq); return 0 }, done: make(chan result, 1), seqc: make(chan uint64, 1)}:
			case <-n.stopc:
			}
		}
		return 0, ctx.Err()
	case <-n.stopc:
		select {
		case res := <-r.done:
			return res.index, res.err
		default:
			return 0, ErrStopped
		}
	}
}

// Propose appends data to the replicated log. It returns the entry's index
// once the entry is committed and applied locally (Apply has returned), a
// *NotLeaderError (errors.Is ErrNotLeader) with the leader hint if this node
// is not the leader, or ctx's error. After ctx expires or a NotLeaderError
// with Indeterminate set, the entry may still commit.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	return n.do(ctx, func(done completion) uint64 { return n.c.propose(data, done) })
}

// ReadIndex returns a linearizable read point: once it returns index, the
// local state (applied up to at least index, which ReadIndex waits for)
// reflects every entry committed before the call. On a new leader it also
// waits until the leader has committed an entry of its own term, which
// makes it a barrier for a controller taking over. It works on followers
// and learners too (the leader confirms the index).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	return n.do(ctx, func(done completion) uint64 { return n.c.readIndex(done) })
}

// AddLearner adds node id as a learner (a non-voting follower of the log)
// and returns once the change is applied here. Only the leader can do it,
// one membership change at a time.
func (n *Node) AddLearner(ctx context.Context, id uint64) error {
	_, err := n.do(ctx, func(done completion) uint64 {
		return n.c.changeMembership(raftpb.ConfChangeAddLearnerNode, id, done)
	})
	return err
}

// RemoveLearner removes learner id from the group. Voters are static (the
// quorum config) and cannot be removed this way.
func (n *Node) RemoveLearner(ctx context.Context, id uint64) error {
	_, err := n.do(ctx, func(done completion) uint64 {
		return n.c.changeMembership(raftpb.ConfChangeRemoveNode, id, done)
	})
	return err
}

// TransferLeadership hands leadership to voter id (controlled shutdown) and
// returns once this node sees id as leader. It fails with ErrNotLeader if
// this node is not the leader and ErrTransferAborted if raft gave up (the
// transferee did not catch up within an election timeout).
func (n *Node) TransferLeadership(ctx context.Context, id uint64) error {
	_, err := n.do(ctx, func(done completion) uint64 { return n.c.transferLeadership(id, done) })
	return err
}

// Snapshot makes the node snapshot the application state now and compact
// its log (normally that happens every SnapshotEntries entries).
func (n *Node) Snapshot(ctx context.Context) error {
	_, err := n.do(ctx, func(done completion) uint64 {
		err := n.c.snapshotNow()
		if err != nil {
			n.c.fatal = err // storage may be half-way through: stop the node
		}
		done(0, err)
		return 0
	})
	return err
}
