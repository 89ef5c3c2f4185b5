package replica

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/purgatory"
)

// Config configures a Manager. Zero values mean Kafka's defaults.
type Config struct {
	// NodeID is this broker's id (node.id).
	NodeID int32
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower that has not
	// caught up for this long leaves the ISR. Default 30 s.
	ReplicaLagTimeMax time.Duration
	// FetchMaxBytes is replica.fetch.max.bytes, per partition. Default 1 MiB.
	FetchMaxBytes int32
	// FetchResponseMaxBytes is replica.fetch.response.max.bytes. Default 10 MiB.
	FetchResponseMaxBytes int32
	// FetchMaxWait is replica.fetch.wait.max.ms. Default 500 ms.
	FetchMaxWait time.Duration
	// FetchBackoff is replica.fetch.backoff.ms, the pause after a failed
	// fetch. Default 1 s.
	FetchBackoff time.Duration

	// Transport sends follower fetches to other brokers. Nil: this broker
	// never follows (single node).
	Transport Transport
	// Alter commits ISR changes. Nil: proposals are dropped (the ISR never
	// changes).
	Alter ISRChanger
	// Notify, when set, is called without locks after a partition's high
	// watermark moved, to wake client fetches waiting on it.
	Notify func(topic string, partition int32)

	Clock  clock.Clock  // nil = clock.Real
	Logger *slog.Logger // nil = slog.Default()
}

func (c *Config) fill() {
	if c.ReplicaLagTimeMax <= 0 {
		c.ReplicaLagTimeMax = 30 * time.Second
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 1 << 20
	}
	if c.FetchResponseMaxBytes <= 0 {
		c.FetchResponseMaxBytes = 10 << 20
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchBackoff <= 0 {
		c.FetchBackoff = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

type key struct {
	topic     string
	partition int32
}

// Manager holds this broker's partition replicas and its fetchers. Mirrors
// kafka.server.ReplicaManager. Methods are safe for concurrent use.
//
// Lock order: Manager.mu and Partition.mu are never held together;
// Partition.mu → commitlog locks; purgatory locks are leaves.
type Manager struct {
	cfg    Config
	logger *slog.Logger
	waits  *purgatory.Purgatory[key] // acks=-1 produce and follower long polls

	mu sync.Mutex
	// The fields below are guarded by mu.
	parts     map[key]*Partition
	following map[int32]map[key]*Partition // source broker → partitions fetched from it
	fetchers  map[int32]*fetcher           // running fetcher goroutines (only under Run)
	alterQ    []*Partition
	runCtx    context.Context // set while Run runs
	wg        sync.WaitGroup  // fetcher goroutines; Run waits for them

	alterWake chan struct{} // one-slot: the alter queue is not empty

	// onTruncate, set by tests before use, sees every follower truncation.
	onTruncate func(topic string, partition int32, target, hw int64)
}

// NewManager returns an empty manager. Call Apply for every local replica
// and Run to start fetching.
func NewManager(cfg Config) *Manager {
	cfg.fill()
	return &Manager{
		cfg: cfg, logger: cfg.Logger, waits: purgatory.New[key](),
		parts: make(map[key]*Partition), following: make(map[int32]map[key]*Partition),
		fetchers: make(map[int32]*fetcher), alterWake: make(chan struct{}, 1),
	}
}

func (m *Manager) nowMs() int64 { return m.cfg.Clock.Now().UnixMilli() }

// NodeID returns this broker's id.
func (m *Manager) NodeID() int32 { return m.cfg.NodeID }

// Partition returns the local replica of a partition, or nil.
func (m *Manager) Partition(topic string, partition int32) *Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[key{topic, partition}]
}

// Apply makes the local replica of a partition follow st (the metadata
// changed, or at start-up). l is the partition's log; it must stay the same
// for the life of the replica. Mirrors ReplicaManager.applyDelta
// (makeLeaders / makeFollowers).
func (m *Manager) Apply(topic string, partition int32, l *commitlog.Log, st State) error {
	k := key{topic, partition}
	m.mu.Lock()
	p := m.parts[k]
	if p == nil {
		p = newPartition(m, topic, partition, l)
		m.parts[k] = p
	}
	m.mu.Unlock()
	moved, hwMoved, err := p.apply(st)
	if moved {
		m.refollow(p)
		// Waiters on the old role (acks=-1 produce, follower long polls)
		// re-check and give up.
		m.waits.Notify(k)
	}
	if hwMoved {
		m.hwMoved(p)
	}
	return err
}

// Remove forgets the local replica of a partition (the topic was deleted
// or the replica moved away). Its fetcher stops fetching it.
func (m *Manager) Remove(topic string, partition int32) {
	k := key{topic, partition}
	m.mu.Lock()
	p := m.parts[k]
	delete(m.parts, k)
	for src, set := range m.following {
		delete(set, k)
		if len(set) == 0 {
			delete(m.following, src)
		}
	}
	m.mu.Unlock()
	if p != nil {
		// The log keeps p as its onDurable hook until a new replica of it
		// replaces it: harmless, durableMoved does nothing without a role.
		p.mu.Lock()
		p.role, p.followers, p.pending = RoleNone, nil, nil
		p.mu.Unlock()
		m.waits.Notify(k)
	}
}

// refollow puts p under the fetcher of its leader, or none.
func (m *Manager) refollow(p *Partition) {
	p.mu.Lock()
	role, leader := p.role, p.leader
	p.mu.Unlock()
	k := key{p.topic, p.index}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts[k] != p {
		return
	}
	for src, set := range m.following {
		if src != leader || role != RoleFollower {
			delete(set, k)
			if len(set) == 0 {
				delete(m.following, src)
			}
		}
	}
	if role != RoleFollower {
		return
	}
	set := m.following[leader]
	if set == nil {
		set = make(map[key]*Partition)
		m.following[leader] = set
	}
	set[k] = p
	m.startFetcherLocked(leader)
}

// followed returns the partitions fetched from source.
func (m *Manager) followed(source int32) []*Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.following[source]
	out := make([]*Partition, 0, len(set))
	for _, p := range set {
		out = append(out, p)
	}
	return out
}

// Sources returns the brokers this one fetches from.
func (m *Manager) Sources() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int32, 0, len(m.following))
	for src := range m.following {
		out = append(out, src)
	}
	return out
}

// hwMoved wakes acks=-1 produce waiters and client fetches.
func (m *Manager) hwMoved(p *Partition) {
	m.waits.Notify(key{p.topic, p.index})
	if m.cfg.Notify != nil {
		m.cfg.Notify(p.topic, p.index)
	}
}

// dataArrived wakes follower fetches waiting for new data.
func (m *Manager) dataArrived(p *Partition) { m.waits.Notify(key{p.topic, p.index}) }

// truncated is a hook for tests (the simulation checks that nothing below
// the committed offset is cut).
func (m *Manager) truncated(p *Partition, target, hw int64) {
	if m.onTruncate != nil {
		m.onTruncate(p.topic, p.index, target, hw)
	}
}

// queueAlter puts p on the AlterPartition queue.
func (m *Manager) queueAlter(p *Partition) {
	m.mu.Lock()
	m.alterQ = append(m.alterQ, p)
	m.mu.Unlock()
	select {
	case m.alterWake <- struct{}{}:
	default:
	}
}

// SendAlters sends the queued ISR proposals to the ISRChanger, one at a
// time, and returns how many it sent. What happens to a proposal depends on
// the answer: a rejection (ErrProposalRejected) drops it, and the next check
// (a fetch, the shrink timer) proposes again from the current state; a stale
// one (ErrStaleState) stays pending until the newer state arrives through
// Apply; an unknown outcome (any other error) is queued to be sent again.
// Until then the proposal counts in the maximal ISR, because the controller
// may have committed it. Run calls it; simulations call it as a step.
func (m *Manager) SendAlters(ctx context.Context) int {
	m.mu.Lock()
	q := m.alterQ
	m.alterQ = nil
	m.mu.Unlock()
	n := 0
	for _, p := range q {
		req := p.takeProposal()
		if req == nil {
			continue
		}
		n++
		if m.cfg.Alter == nil {
			p.proposalFailed(req)
			continue
		}
		err := m.cfg.Alter.AlterPartition(ctx, *req)
		switch {
		case err == nil, errors.Is(err, ErrStaleState):
		case errors.Is(err, ErrProposalRejected):
			m.logger.Warn("AlterPartition rejected", "topic", req.Topic, "partition", req.Partition, "isr", req.NewISR, "err", err)
			p.proposalFailed(req)
		default:
			m.logger.Warn("AlterPartition unanswered; will retry", "topic", req.Topic, "partition", req.Partition, "isr", req.NewISR, "err", err)
			if p.proposalUnanswered(req) {
				m.mu.Lock()
				m.alterQ = append(m.alterQ, p)
				m.mu.Unlock()
			}
		}
	}
	return n
}

// ShrinkISRs checks every led partition for followers that fell out of sync
// (Kafka's isr-expiration task). Run calls it every replica.lag.time.max.ms/2.
// Partitions are checked in (topic, index) order, so that the proposals
// queue in an order a seeded simulation can replay.
func (m *Manager) ShrinkISRs() {
	m.mu.Lock()
	ps := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	slices.SortFunc(ps, func(a, b *Partition) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.index, b.index))
	})
	for _, p := range ps {
		p.maybeShrinkISR()
	}
}

// alterRetryBackoff is how often Run sends again the ISR proposals whose
// outcome is unknown.
const alterRetryBackoff = 250 * time.Millisecond

// Run runs the fetchers, the ISR-expiration timer and the AlterPartition
// sender until ctx ends, then waits for the fetchers to stop.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.runCtx = ctx
	for src := range m.following {
		m.startFetcherLocked(src)
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.runCtx = nil
		m.mu.Unlock()
		m.wg.Wait()
	}()
	t := time.NewTicker(m.cfg.ReplicaLagTimeMax / 2)
	defer t.Stop()
	retry := time.NewTicker(alterRetryBackoff)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.ShrinkISRs()
			m.SendAlters(ctx)
		case <-m.alterWake:
			m.SendAlters(ctx)
		case <-retry.C:
			m.SendAlters(ctx) // proposals whose answer was lost
		}
	}
}

// startFetcherLocked starts the goroutine fetching from src, if Run runs and
// none is running. The goroutine is owned by Run (m.wg) and ends when src
// has no partitions left or Run's context ends. m.mu must be held.
func (m *Manager) startFetcherLocked(src int32) {
	if m.runCtx == nil || m.fetchers[src] != nil || m.cfg.Transport == nil {
		return
	}
	f := &fetcher{m: m, source: src}
	m.fetchers[src] = f
	ctx := m.runCtx // read under m.mu: Run clears it when it returns
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f.run(ctx)
	}()
}

// fetcherDone unregisters f if src has no partitions left; it reports
// whether f must stop.
func (m *Manager) fetcherDone(f *fetcher) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.following[f.source]) > 0 && m.runCtx != nil && m.runCtx.Err() == nil {
		return false
	}
	delete(m.fetchers, f.source)
	return true
}
