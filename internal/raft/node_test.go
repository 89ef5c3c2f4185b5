package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/internal/vfs"
)

// kvApp is a thread-safe test state machine: the list of applied payloads.
type kvApp struct {
	mu      sync.Mutex
	applied uint64
	items   []string
}

func (a *kvApp) Apply(index uint64, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = index
	a.items = append(a.items, string(data))
}

func (a *kvApp) Restore(index uint64, data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied, a.items = index, nil
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < n {
			return errors.New("bad snapshot")
		}
		a.items = append(a.items, string(data[k:k+int(n)]))
		data = data[k+int(n):]
	}
	return nil
}

func (a *kvApp) Snapshot() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b []byte
	for _, it := range a.items {
		b = binary.AppendUvarint(b, uint64(len(it)))
		b = append(b, it...)
	}
	return b, nil
}

func (a *kvApp) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.items)
}

// liveCluster runs Nodes with their own goroutines over a MemNetwork.
type liveCluster struct {
	t       *testing.T
	net     *MemNetwork
	fs      map[uint64]vfs.FS
	nodes   map[uint64]*Node
	apps    map[uint64]*kvApp
	cancels map[uint64]context.CancelFunc
	done    map[uint64]chan error
	voters  []uint64
	g       errgroup.Group
	stopNet context.CancelFunc
}

func newLiveCluster(t *testing.T, voters int) *liveCluster {
	c := &liveCluster{
		t: t, net: NewMemNetwork(1),
		fs: map[uint64]vfs.FS{}, nodes: map[uint64]*Node{}, apps: map[uint64]*kvApp{},
		cancels: map[uint64]context.CancelFunc{}, done: map[uint64]chan error{},
	}
	for i := 1; i <= voters; i++ {
		c.voters = append(c.voters, uint64(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopNet = cancel
	c.g.Go(func() error { c.net.Run(ctx, time.Millisecond); return nil })
	for _, id := range c.voters {
		c.start(id)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *liveCluster) start(id uint64) {
	c.t.Helper()
	if c.fs[id] == nil {
		c.fs[id] = vfs.NewMem()
	}
	app := &kvApp{}
	n, err := Open(Config{
		ID: id, FS: c.fs[id], Dir: "/data/raft", Voters: c.voters,
		Transport: c.net.Transport(id), TickInterval: 10 * time.Millisecond,
		Apply: app.Apply, Restore: app.Restore, Snapshot: app.Snapshot,
		SnapshotEntries: 50, CatchUpEntries: 10, Logger: discard,
	})
	if err != nil {
		c.t.Fatalf("open node %d: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.nodes[id], c.apps[id], c.cancels[id] = n, app, cancel
	done := make(chan error, 1)
	c.done[id] = done
	c.net.Register(id, n)
	c.g.Go(func() error { err := n.Run(ctx); done <- err; return err })
}

func (c *liveCluster) stop(id uint64) {
	c.t.Helper()
	c.net.Register(id, nil)
	c.cancels[id]()
	if err := <-c.done[id]; err != nil {
		c.t.Errorf("node %d: Run: %v", id, err)
	}
	if err := c.nodes[id].Close(); err != nil {
		c.t.Errorf("node %d: Close: %v", id, err)
	}
	delete(c.nodes, id)
}

func (c *liveCluster) stopAll() {
	for id := range c.nodes {
		c.stop(id)
	}
	c.stopNet()
	if err := c.g.Wait(); err != nil {
		c.t.Error(err)
	}
}

// waitLeader waits (bounded) until every running node agrees on a leader.
func (c *liveCluster) waitLeader() *Node {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, n := range c.nodes {
			s := n.Status()
			if s.Leader == 0 || (lead != 0 && s.Leader != lead) {
				agree = false
				break
			}
			lead = s.Leader
		}
		if agree && c.nodes[lead] != nil && c.nodes[lead].Status().Role == "leader" {
			return c.nodes[lead]
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader within 10s")
	return nil
}

func (c *liveCluster) waitApplied(id, index uint64) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.nodes[id].Status().Applied >= index {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("node %d: applied %d, want %d within 10s", id, c.nodes[id].Status().Applied, index)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeProposeReadAndRestart(t *testing.T) {
	c := newLiveCluster(t, 3)
	ctx := ctxT(t)
	leader := c.waitLeader()

	var last uint64
	for i := range 120 { // crosses SnapshotEntries twice: compaction runs
		idx, err := leader.Propose(ctx, fmt.Appendf(nil, "v%d", i))
		if err != nil {
			t.Fatalf("Propose %d: %v", i, err)
		}
		if idx <= last {
			t.Fatalf("Propose %d: index %d not above %d", i, idx, last)
		}
		last = idx
	}
	if got := c.apps[leader.ID()].list(); len(got) != 120 || got[119] != "v119" {
		t.Fatalf("leader state has %d items, last %q", len(got), got[len(got)-1])
	}

	// A follower refuses proposals and names the leader.
	var follower *Node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	_, err := follower.Propose(ctx, []byte("x"))
	var nle *NotLeaderError
	if !errors.As(err, &nle) || !errors.Is(err, ErrNotLeader) || nle.Leader != leader.ID() {
		t.Fatalf("follower Propose: %v, want NotLeaderError naming %d", err, leader.ID())
	}

	// A follower's linearizable read sees everything acknowledged before.
	ri, err := follower.ReadIndex(ctx)
	if err != nil || ri < last {
		t.Fatalf("follower ReadIndex = %d, %v; want >= %d", ri, err, last)
	}
	if got := c.apps[follower.ID()].list(); len(got) != 120 {
		t.Fatalf("after ReadIndex the follower has %d items, want 120", len(got))
	}
	if s := follower.Status(); s.SnapshotIndex == 0 || len(s.Voters) != 3 {
		t.Fatalf("follower status %+v: want a snapshot and 3 voters", s)
	}

	// Restart a follower from its disk: state comes back from snapshot + log.
	fid := follower.ID()
	c.stop(fid)
	c.start(fid)
	c.waitApplied(fid, last)
	if got := c.apps[fid].list(); len(got) != 120 || got[0] != "v0" || got[119] != "v119" {
		t.Fatalf("restarted follower has %d items", len(got))
	}
	st := c.nodes[leader.ID()].Status()
	if st.Progress == nil || st.Progress[fid].Match < last {
		t.Fatalf("leader progress for %d: %+v", fid, st.Progress[fid])
	}
}

func TestNodeLearnerAndTransfer(t *testing.T) {
	c := newLiveCluster(t, 3)
	ctx := ctxT(t)
	leader := c.waitLeader()
	for i := range 60 {
		if _, err := leader.Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// A broker joins as a learner: it starts empty and gets a snapshot.
	c.start(10)
	if err := leader.AddLearner(ctx, 10); err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	if err := leader.AddLearner(ctx, 1); !errors.Is(err, ErrInvalidConfChange) && leader.ID() != 1 {
		// voter 1 cannot become a learner (only checked when 1 is not us)
		t.Fatalf("AddLearner(voter) = %v", err)
	}
	idx, err := leader.Propose(ctx, []byte("after-learner"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitApplied(10, idx)
	if got := c.apps[10].list(); len(got) != 61 || got[60] != "after-learner" {
		t.Fatalf("learner has %d items", len(got))
	}
	if s := leader.Status(); !slices.Contains(s.Learners, 10) {
		t.Fatalf("status learners %v", s.Learners)
	}
	if s := c.nodes[10].Status(); s.Role != "follower" || s.Leader != leader.ID() {
		t.Fatalf("learner status %+v", s)
	}
	// A learner cannot propose either.
	if _, err := c.nodes[10].Propose(ctx, []byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("learner Propose: %v", err)
	}

	// Controlled shutdown: hand leadership to another voter.
	var to uint64
	for _, v := range c.voters {
		if v != leader.ID() {
			to = v
			break
		}
	}
	if err := leader.TransferLeadership(ctx, to); err != nil {
		t.Fatalf("TransferLeadership(%d): %v", to, err)
	}
	if got := c.waitLeader().ID(); got != to {
		t.Fatalf("leader after transfer = %d, want %d", got, to)
	}
	if _, err := c.nodes[to].Propose(ctx, []byte("new-leader")); err != nil {
		t.Fatalf("Propose on new leader: %v", err)
	}
	if err := c.nodes[to].RemoveLearner(ctx, 10); err != nil {
		t.Fatalf("RemoveLearner: %v", err)
	}
	// RemoveLearner returns once the change is committed; Status shows
	// the configuration once the node has applied it, a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s := c.nodes[to].Status()
		if !slices.Contains(s.Learners, 10) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("learner 10 still in %v", s.Learners)
		}
	}
}

func TestNodeProposeCancelledAndStopped(t *testing.T) {
	c := newLiveCluster(t, 3)
	leader := c.waitLeader()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := leader.Propose(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with cancelled ctx: %v", err)
	}
	id := leader.ID()
	c.stop(id)
	if _, err := leader.Propose(context.Background(), []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose on stopped node: %v", err)
	}
	// The others elect a new leader and go on.
	if _, err := c.waitLeader().Propose(ctxT(t), []byte("y")); err != nil {
		t.Fatal(err)
	}
}

// A failed fsync stops the node: Run returns the error, waiting requests get
// ErrStopped, nothing is acknowledged.
func TestNodeStopsOnStorageFailure(t *testing.T) {
	var fail atomic.Bool
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if fail.Load() && op == vfs.OpSync {
			return vfs.Fault{Err: syscall.EIO}
		}
		return vfs.Fault{}
	}))
	app := &kvApp{}
	n, err := Open(Config{ID: 1, FS: fs, Dir: "/r", Voters: []uint64{1}, Transport: NewMemNetwork(1).Transport(1),
		TickInterval: 5 * time.Millisecond, Apply: app.Apply, Restore: app.Restore, Snapshot: app.Snapshot, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	errc := make(chan error, 1)
	go func() { errc <- n.Run(context.Background()) }()
	ctx := ctxT(t)
	for n.Status().Role != "leader" {
		time.Sleep(time.Millisecond)
	}
	if _, err := n.Propose(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if idx, err := n.Propose(ctx, []byte("lost")); err == nil {
		t.Fatalf("Propose acknowledged index %d although fsync failed", idx)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("Run = %v, want EIO", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not stop")
	}
	if got := app.list(); len(got) != 1 {
		t.Fatalf("applied %v", got)
	}
}
