package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/coordinator"
)

// memStorage serves MemLogs, one per partition; they survive a "restart"
// (a new Coordinator over the same memStorage).
type memStorage struct {
	mu   sync.Mutex
	logs map[int32]*coordinator.MemLog
}

func newMemStorage() *memStorage { return &memStorage{logs: make(map[int32]*coordinator.MemLog)} }

func (m *memStorage) OpenPartition(_ context.Context, p int32) (coordinator.Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.logs[p]
	if l == nil {
		l = coordinator.NewMemLog()
		m.logs[p] = l
	}
	return l, nil
}

// harness drives one Coordinator on a fake clock. join and sync do not
// block: they return a pending reply that the test inspects after later
// operations, so that multi-member rebalances run in one goroutine.
type harness struct {
	t       *testing.T
	clk     *clock.Fake
	storage *memStorage
	c       *Coordinator
	cfg     Config
	ids     int
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), storage: newMemStorage()}
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.NumPartitions = 4
	cfg.NewMemberID = func(clientID string) string {
		h.ids++
		return fmt.Sprintf("%s-%d", clientID, h.ids)
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.cfg = cfg
	h.restart()
	return h
}

// restart replaces the coordinator with a new one over the same logs, as a
// broker restart does.
func (h *harness) restart() {
	h.t.Helper()
	c, err := NewCoordinator(h.cfg, h.clk, h.storage, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
}

type pending[T any] struct {
	done bool
	res  T
	err  error // the synchronous error, if any
}

func (p *pending[T]) set(r T) {
	if p.done {
		panic("BUG: second reply")
	}
	p.done, p.res = true, r
}

// joinReq is a consumer-protocol JoinGroup for group g.
func joinReq(g, member, client string) JoinRequest {
	return JoinRequest{
		Group: g, MemberID: member, ClientID: client, ClientHost: "/127.0.0.1",
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("sub")}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second,
	}
}

func (h *harness) join(req JoinRequest) *pending[JoinResult] {
	p := &pending[JoinResult]{}
	s := h.c.shardFor(req.Group)
	p.err = s.run(context.Background(), func(now time.Time, eff *effects) error { return s.join(now, eff, req, p.set) })
	return p
}

func (h *harness) sync(req SyncRequest) *pending[SyncResult] {
	p := &pending[SyncResult]{}
	s := h.c.shardFor(req.Group)
	p.err = s.run(context.Background(), func(now time.Time, eff *effects) error { return s.sync(now, eff, req, p.set) })
	return p
}

func (h *harness) heartbeat(g, member string, gen int32) error {
	return h.c.Heartbeat(context.Background(), HeartbeatRequest{Group: g, MemberID: member, Generation: gen})
}

func (h *harness) advance(d time.Duration) {
	h.clk.Advance(d)
	h.c.Tick(context.Background())
}

func (h *harness) state(g string) State {
	h.t.Helper()
	sum, err := h.c.DescribeGroup(context.Background(), g)
	if err != nil {
		h.t.Fatal(err)
	}
	return sum.State
}

func (h *harness) members(g string) []string {
	h.t.Helper()
	sum, err := h.c.DescribeGroup(context.Background(), g)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, m := range sum.Members {
		ids = append(ids, m.MemberID)
	}
	return ids
}

// mustJoined checks that p completed without error and returns its result.
func mustJoined(t *testing.T, p *pending[JoinResult]) JoinResult {
	t.Helper()
	if p.err != nil {
		t.Fatalf("join: %v", p.err)
	}
	if !p.done {
		t.Fatalf("join still waiting")
	}
	if p.res.Err != nil {
		t.Fatalf("join result: %v", p.res.Err)
	}
	return p.res
}

// joinStable brings a single new member into group g and through SyncGroup
// with assignment a; it returns the member id and generation.
func (h *harness) joinStable(g, client string, a []byte) (string, int32) {
	h.t.Helper()
	req := joinReq(g, "", client)
	r := mustJoined(h.t, h.join(req))
	sp := h.sync(SyncRequest{Group: g, MemberID: r.MemberID, Generation: r.Generation, Assignments: map[string][]byte{r.MemberID: a}})
	if sp.err != nil || !sp.done || sp.res.Err != nil {
		h.t.Fatalf("sync: %v %v %+v", sp.err, sp.done, sp.res)
	}
	return r.MemberID, r.Generation
}
