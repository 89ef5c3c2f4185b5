package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Guarantee is the processing guarantee.
type Guarantee int

const (
	// AtLeastOnce commits input offsets after the outputs and changelog
	// records they caused are acknowledged; after a crash, records since
	// the last commit are processed again (counts may only go up).
	AtLeastOnce Guarantee = iota
	// ExactlyOnceV2 (KIP-447) writes outputs, changelog records and input
	// offsets in one transaction per commit, with one transactional
	// producer per instance fenced by the consumer group generation.
	ExactlyOnceV2
)

// Option configures an App.
type Option func(*config)

type config struct {
	brokers        []string
	appID          string
	stateDir       string
	guarantee      Guarantee
	commitInterval time.Duration
	onError        ErrorHandler
	kopts          []kgo.Opt
	now            func() time.Time
	rf             int16
	txnTimeout     time.Duration
	logger         *slog.Logger
	instanceID     string
	maxPoll        int
	restoreTimeout time.Duration
}

// Brokers sets the seed brokers.
func Brokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// ApplicationID sets the application id: the consumer group, the prefix of
// internal topics and of transactional ids. Required.
func ApplicationID(id string) Option { return func(c *config) { c.appID = id } }

// StateDir sets the directory for persistent stores (default a directory
// under os.TempDir()).
func StateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// ProcessingGuarantee selects AtLeastOnce (default) or ExactlyOnceV2.
func ProcessingGuarantee(g Guarantee) Option { return func(c *config) { c.guarantee = g } }

// CommitInterval sets how often progress is committed: offsets under
// at-least-once, the transaction under exactly-once (default 1s; Kafka
// Streams uses 100ms for exactly-once). Under exactly-once it bounds how
// long outputs stay invisible to read_committed consumers and how long a
// rebalance waits.
func CommitInterval(d time.Duration) Option { return func(c *config) { c.commitInterval = d } }

// OnError sets the handler for record-level errors. Without one, any
// error stops the application and is returned by Run.
func OnError(h ErrorHandler) Option { return func(c *config) { c.onError = h } }

// ClientOptions adds franz-go options to every client the App creates
// (TLS, SASL, logging, …).
func ClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.kopts = append(c.kopts, opts...) }
}

// WithClock sets the wall clock for wall-clock punctuations (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// ReplicationFactor sets the replication factor of internal topics
// (default -1: the broker's default).
func ReplicationFactor(rf int16) Option { return func(c *config) { c.rf = rf } }

// TransactionTimeout sets the exactly-once producer's transaction timeout
// (default 10s). After a crash, the partitions of the dead instance's open
// transaction stay blocked until it expires.
func TransactionTimeout(d time.Duration) Option { return func(c *config) { c.txnTimeout = d } }

// Logger sets the logger for lifecycle events (default slog.Default()).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// InstanceID names this instance (default random); it is part of the
// transactional id under exactly-once.
func InstanceID(id string) Option { return func(c *config) { c.instanceID = id } }

// MaxPollRecords bounds the records processed per poll (default 1000).
func MaxPollRecords(n int) Option { return func(c *config) { c.maxPoll = n } }

// App runs a Topology against Kafka brokers. New starts nothing; Run
// processes until its context is done.
type App struct {
	topo *Topology
	cfg  config

	topicSub  map[string]*subtopology // resolved source topic → sub-topology
	subParts  map[int]int32           // sub-topology id → partition count
	changelog map[string]bool         // changelog topics (manual partitioning)

	mu      sync.RWMutex // guards tasks and gstores against interactive queries
	tasks   map[TaskID]*task
	gstores map[string]bytesStore

	globalStoreOf map[string]string // global topic → store; set before the global thread starts

	// Owned by the stream thread (and rebalance callbacks, which kgo runs
	// only while the stream thread is blocked in poll: BlockRebalanceOnPoll).
	assigned map[TaskID]bool
	offsets  map[string]map[int32]kgo.EpochOffset // processed, not yet committed (at-least-once)
	dirty    bool

	cl      *kgo.Client
	sess    *kgo.GroupTransactSession
	restore *kgo.Client
	adm     *kadm.Client
	prodErr atomic.Pointer[error]
	running atomic.Bool

	cpMu        sync.Mutex
	clOffsets   map[tp]int64     // changelog partition → next offset after what the local store holds
	checkpoints map[string]int64 // persistent store dir → offset its checkpoint file recorded
}

// New returns an App for topo.
func New(topo *Topology, opts ...Option) (*App, error) {
	c := config{commitInterval: time.Second, now: time.Now, rf: -1, txnTimeout: 10 * time.Second,
		logger: slog.Default(), maxPoll: 1000, restoreTimeout: 2 * time.Minute}
	for _, o := range opts {
		o(&c)
	}
	if topo == nil {
		return nil, errors.New("streams: nil topology")
	}
	if c.appID == "" {
		return nil, errors.New("streams: ApplicationID is required")
	}
	if len(c.brokers) == 0 {
		return nil, errors.New("streams: Brokers is required")
	}
	if c.stateDir == "" {
		c.stateDir = filepath.Join(os.TempDir(), "kavka-streams")
	}
	if c.instanceID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.instanceID = hex.EncodeToString(b[:])
	}
	a := &App{topo: topo, cfg: c, topicSub: map[string]*subtopology{}, subParts: map[int]int32{},
		changelog: map[string]bool{}, tasks: map[TaskID]*task{}, gstores: map[string]bytesStore{},
		assigned: map[TaskID]bool{}, offsets: map[string]map[int32]kgo.EpochOffset{},
		clOffsets: map[tp]int64{}, checkpoints: map[string]int64{}}
	for _, st := range topo.subs {
		for _, t := range st.topics {
			a.topicSub[t.resolve(c.appID)] = st
		}
		for _, s := range st.stores {
			if topo.stores[s].logged {
				a.changelog[topo.changelogTopic(c.appID, s)] = true
			}
		}
	}
	return a, nil
}

// taskEnv for the App.
type appEnv struct{ a *App }

func (e appEnv) appID() string  { return e.a.cfg.appID }
func (e appEnv) now() time.Time { return e.a.cfg.now() }
func (e appEnv) globalStore(name string) bytesStore {
	e.a.mu.RLock()
	defer e.a.mu.RUnlock()
	return e.a.gstores[name]
}

func (e appEnv) openStore(d *storeDef, id TaskID) (bytesStore, error) {
	if !d.persistent {
		return newMemStore(), nil
	}
	dir := e.a.storeDir(id, d.name)
	cp := dir + ".checkpoint"
	// A checkpoint file says the store holds its changelog up to the
	// offset inside; it is written only on a clean close under
	// at-least-once and removed on open, so after a crash the store is
	// wiped and fully restored (under exactly-once it always is: local
	// state may hold aborted updates).
	b, err := os.ReadFile(cp)
	_ = os.Remove(cp)
	if err == nil && e.a.cfg.guarantee == AtLeastOnce {
		if off, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); perr == nil {
			if s, err := openPebble(dir); err == nil {
				e.a.cpMu.Lock()
				e.a.checkpoints[dir] = off
				e.a.cpMu.Unlock()
				return s, nil
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clear store dir %s: %w", dir, err)
	}
	return openPebble(dir)
}

func (a *App) storeDir(id TaskID, store string) string {
	return filepath.Join(a.cfg.stateDir, a.cfg.appID, id.String(), store)
}

func (e appEnv) send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error {
	a := e.a
	r := &kgo.Record{Topic: topic, Key: key, Value: value, Timestamp: time.UnixMilli(ts), Partition: partition}
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	logged := a.changelog[topic]
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("produce to %s/%d: %w", r.Topic, r.Partition, err)
			a.prodErr.CompareAndSwap(nil, &err)
			return
		}
		if logged {
			a.cpMu.Lock()
			k := tp{r.Topic, r.Partition}
			a.clOffsets[k] = max(a.clOffsets[k], r.Offset+1)
			a.cpMu.Unlock()
		}
	}
	if a.sess != nil {
		a.sess.Produce(context.Background(), r, promise)
	} else {
		a.cl.Produce(context.Background(), r, promise)
	}
	return nil
}

// partitioner sends changelog records to the partition the task chose and
// everything else by the murmur2 hash of the key, like Kafka's default.
type partitioner struct {
	manual map[string]bool
	dflt   kgo.Partitioner
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if p.manual[t] {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return p.dflt.ForTopic(t)
}

// Run creates internal topics, joins the group and processes records
// until ctx is done (then it commits, closes its tasks, leaves the group
// and returns nil) or a fatal error occurs (returned). Run may be called
// once.
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("streams: Run called twice")
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.brokers...)}, a.cfg.kopts...)
	admCl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("streams: admin client: %w", err)
	}
	defer admCl.Close()
	a.adm = kadm.NewClient(admCl)
	if err := a.setupTopics(ctx); err != nil {
		return err
	}
	restoreOpts := append(append([]kgo.Opt{}, base...), kgo.KeepControlRecords(), kgo.FetchMaxWait(200*time.Millisecond))
	if a.cfg.guarantee == ExactlyOnceV2 {
		restoreOpts = append(restoreOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if a.restore, err = kgo.NewClient(restoreOpts...); err != nil {
		return fmt.Errorf("streams: restore client: %w", err)
	}
	defer a.restore.Close()

	var wg sync.WaitGroup
	gctx, gcancel := context.WithCancel(ctx)
	gerr := make(chan error, 1)
	defer func() { gcancel(); wg.Wait() }()
	if a.topo.global != nil {
		gcl, err := a.bootstrapGlobal(ctx, base)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer gcl.Close()
			if err := a.runGlobal(gctx, gcl); err != nil {
				gerr <- err
			}
		}()
	}

	var topics []string
	for t := range a.topicSub {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	copts := append(append([]kgo.Opt{}, base...),
		kgo.ConsumerGroup(a.cfg.appID), kgo.ConsumeTopics(topics...),
		kgo.Balancers(&taskBalancer{topicSub: a.topicSubIDs()}),
		kgo.BlockRebalanceOnPoll(), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(partitioner{manual: a.changelog, dflt: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(a.onAssigned), kgo.OnPartitionsRevoked(a.onRevoked), kgo.OnPartitionsLost(a.onLost),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if a.cfg.guarantee == ExactlyOnceV2 {
		copts = append(copts, kgo.TransactionalID(a.cfg.appID+"-"+a.cfg.instanceID),
			kgo.TransactionTimeout(a.cfg.txnTimeout), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets())
		if a.sess, err = kgo.NewGroupTransactSession(copts...); err != nil {
			return fmt.Errorf("streams: transactional client: %w", err)
		}
		a.cl = a.sess.Client()
	} else if a.cl, err = kgo.NewClient(copts...); err != nil {
		return fmt.Errorf("streams: client: %w", err)
	}
	a.cfg.logger.Info("streams: started", "application", a.cfg.appID, "instance", a.cfg.instanceID, "topics", topics)
	runErr := a.loop(ctx, gerr)
	closeErr := a.shutdown(runErr == nil)
	if runErr != nil {
		return runErr
	}
	return closeErr
}

func (a *App) topicSubIDs() map[string]int {
	m := map[string]int{}
	for t, st := range a.topicSub {
		m[t] = st.id
	}
	return m
}

// loop is the stream thread.
func (a *App) loop(ctx context.Context, gerr <-chan error) error {
	lastCommit := a.cfg.now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-gerr:
			return err
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		var fs kgo.Fetches
		if a.sess != nil {
			fs = a.sess.PollRecords(pctx, a.cfg.maxPoll)
		} else {
			fs = a.cl.PollRecords(pctx, a.cfg.maxPoll)
		}
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		var fatal error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			a.cfg.logger.Warn("streams: fetch error", "topic", t, "partition", p, "err", err)
			if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) {
				fatal = err
			}
		})
		if fatal != nil {
			a.allowRebalance()
			return fmt.Errorf("streams: fetch: %w", fatal)
		}
		if err := a.processBatch(ctx, fs); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				// Shutting down (e.g. during a restore): what was
				// processed is committed by shutdown.
				return nil
			}
			a.allowRebalance()
			return err
		}
		if a.dirty && a.cfg.now().Sub(lastCommit) >= a.cfg.commitInterval {
			commit := a.commitALOS
			if a.sess != nil {
				commit = a.endTxn
			}
			if err := commit(ctx); err != nil {
				a.allowRebalance()
				return err
			}
			lastCommit = a.cfg.now()
		}
		if a.sess == nil || !a.dirty {
			// Under exactly-once a rebalance waits until the open
			// transaction ends (at most a commit interval): revoking
			// partitions mid-transaction would abort it.
			a.allowRebalance()
		}
	}
}

func (a *App) allowRebalance() {
	if a.sess != nil {
		a.sess.AllowRebalance()
	} else {
		a.cl.AllowRebalance()
	}
}

// processBatch runs the polled records through their tasks, creating
// (and restoring) tasks on first use. Within a task, records of its
// partitions are interleaved by timestamp, lowest first.
func (a *App) processBatch(ctx context.Context, fs kgo.Fetches) error {
	type part struct {
		rs []*kgo.Record
	}
	byTask := map[TaskID][]*part{}
	var order []TaskID
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		st := a.topicSub[p.Topic]
		if st == nil {
			return
		}
		id := TaskID{st.id, p.Partition}
		if _, ok := byTask[id]; !ok {
			order = append(order, id)
		}
		byTask[id] = append(byTask[id], &part{rs: p.Records})
	})
	if len(order) == 0 {
		return a.punctuateWall()
	}
	if a.sess != nil && !a.dirty {
		if err := a.sess.Begin(); err != nil {
			return fmt.Errorf("streams: begin transaction: %w", err)
		}
		a.dirty = true
	}
	for _, id := range order {
		t, err := a.taskFor(ctx, id)
		if err != nil {
			return err
		}
		if t == nil {
			continue // not assigned (any more)
		}
		parts := byTask[id]
		for {
			var best *part
			for _, p := range parts {
				if len(p.rs) > 0 && (best == nil || p.rs[0].Timestamp.Before(best.rs[0].Timestamp)) {
					best = p
				}
			}
			if best == nil {
				break
			}
			r := best.rs[0]
			best.rs = best.rs[1:]
			var hs []Header
			for _, h := range r.Headers {
				hs = append(hs, Header{Key: h.Key, Value: h.Value})
			}
			err := safeProcess(t, r.Topic, r.Partition, r.Offset, r.Key, r.Value, r.Timestamp, hs)
			if err = handle(a.cfg.onError, err); err != nil {
				return err
			}
			po := a.offsets[r.Topic]
			if po == nil {
				po = map[int32]kgo.EpochOffset{}
				a.offsets[r.Topic] = po
			}
			po[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			a.dirty = true
		}
	}
	if p := a.prodErr.Load(); p != nil {
		return &Error{Kind: ErrProduction, Err: *p}
	}
	return a.punctuateWall()
}

func (a *App) punctuateWall() error {
	now := a.cfg.now().UnixMilli()
	for _, t := range a.sortedTasks() {
		if err := t.punctuate(true, now); err != nil {
			if err = handle(a.cfg.onError, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *App) sortedTasks() []*task {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ts := make([]*task, 0, len(a.tasks))
	for _, t := range a.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		return ts[i].id.Subtopology < ts[j].id.Subtopology ||
			ts[i].id.Subtopology == ts[j].id.Subtopology && ts[i].id.Partition < ts[j].id.Partition
	})
	return ts
}

// taskFor returns the running task, creating and restoring it if needed.
func (a *App) taskFor(ctx context.Context, id TaskID) (*task, error) {
	a.mu.RLock()
	t := a.tasks[id]
	a.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	if !a.assigned[id] {
		return nil, nil
	}
	st := a.topo.subs[id.Subtopology]
	t, err := newTask(id, a.topo, st, appEnv{a})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := a.restoreTask(ctx, t)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("streams: restore task %s: %w", id, err)
	}
	if err := t.init(); err != nil {
		t.close()
		return nil, err
	}
	a.cfg.logger.Info("streams: task started", "task", id.String(), "restored", n, "took", time.Since(start))
	a.mu.Lock()
	a.tasks[id] = t
	a.mu.Unlock()
	return t, nil
}

// restoreTask replays the task's changelog partitions into its stores.
func (a *App) restoreTask(ctx context.Context, t *task) (int, error) {
	want := map[string]string{} // changelog topic → store
	var topics []string
	for name := range t.raw {
		d := a.topo.stores[name]
		if d.logged && !d.global {
			tp := a.topo.changelogTopic(a.cfg.appID, name)
			want[tp] = name
			topics = append(topics, tp)
		}
	}
	if len(topics) == 0 {
		return 0, nil
	}
	list := a.adm.ListEndOffsets
	if a.cfg.guarantee == ExactlyOnceV2 {
		list = a.adm.ListCommittedOffsets // the last stable offset
	}
	ends, err := a.listOffsets(ctx, list, topics, t.id.Partition)
	if err != nil {
		return 0, err
	}
	starts, err := a.listOffsets(ctx, a.adm.ListStartOffsets, topics, t.id.Partition)
	if err != nil {
		return 0, err
	}
	a.cpMu.Lock()
	for _, topic := range topics {
		k := tp{topic, t.id.Partition}
		e, _ := ends.Lookup(topic, t.id.Partition)
		a.clOffsets[k] = e.Offset
		dir := a.storeDir(t.id, want[topic])
		if cp, ok := a.checkpoints[dir]; ok {
			delete(a.checkpoints, dir)
			if o, ok := starts.Lookup(topic, t.id.Partition); ok && cp > o.Offset && cp <= e.Offset {
				o.Offset = cp // resume after the checkpoint
				starts[topic][t.id.Partition] = o
			}
		}
	}
	a.cpMu.Unlock()
	return a.replay(ctx, topics, t.id.Partition, ends, starts, func(topic string, k, v []byte) error {
		return t.raw[want[topic]].Put(k, v)
	})
}

// listOffsets lists offsets of partition p of topics, retrying (bounded)
// while a just-created topic is not yet in the brokers' metadata.
func (a *App) listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topics []string, p int32) (kadm.ListedOffsets, error) {
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		offs, err := list(ctx, topics...)
		if err != nil {
			lastErr = err
			continue
		}
		lastErr = nil
		for _, t := range topics {
			o, ok := offs.Lookup(t, p)
			if !ok {
				lastErr = fmt.Errorf("no offsets for %s/%d", t, p)
			} else if o.Err != nil {
				lastErr = fmt.Errorf("offsets for %s/%d: %w", t, p, o.Err)
			}
		}
		if lastErr == nil {
			return offs, nil
		}
	}
	return nil, lastErr
}

// replay reads partition p of topics from their start offsets up to
// (excluding) their end offsets with the restore client, calling apply
// for each data record.
func (a *App) replay(ctx context.Context, topics []string, p int32, ends, starts kadm.ListedOffsets, apply func(topic string, k, v []byte) error) (int, error) {
	end := map[string]int64{}
	add := map[string]map[int32]kgo.Offset{}
	for _, tp := range topics {
		e, ok := ends.Lookup(tp, p)
		if !ok || e.Err != nil {
			return 0, fmt.Errorf("end offset of %s/%d: %v", tp, p, e.Err)
		}
		s, _ := starts.Lookup(tp, p)
		if e.Offset <= max(s.Offset, 0) {
			continue
		}
		end[tp] = e.Offset
		add[tp] = map[int32]kgo.Offset{p: kgo.NewOffset().At(max(s.Offset, 0))}
	}
	if len(end) == 0 {
		return 0, nil
	}
	a.restore.AddConsumePartitions(add)
	defer func() {
		rm := map[string][]int32{}
		for tp := range add {
			rm[tp] = []int32{p}
		}
		a.restore.RemoveConsumePartitions(rm)
	}()
	ends2 := map[tp]int64{}
	for t, e := range end {
		ends2[tp{t, p}] = e
	}
	return a.catchUp(ctx, a.restore, ends2, func(r *kgo.Record) error { return apply(r.Topic, r.Key, r.Value) })
}

// catchUp polls cl until every partition in end has been read up to its
// end offset (exclusive), calling apply for each data record below it.
// Control records (kept with KeepControlRecords) count as progress, so a
// partition ending in a transaction marker is recognized as caught up.
func (a *App) catchUp(ctx context.Context, cl *kgo.Client, end map[tp]int64, apply func(*kgo.Record) error) (int, error) {
	n := 0
	deadline := time.Now().Add(a.cfg.restoreTimeout)
	lastProgress := time.Now()
	for len(end) > 0 {
		if time.Now().After(deadline) {
			return n, fmt.Errorf("restoration timed out with %v left", end)
		}
		if time.Since(lastProgress) > 5*time.Second {
			// Offsets below the end that are never delivered: aborted
			// records whose marker lies above the last stable offset.
			a.cfg.logger.Warn("streams: restoration stalled below end offsets; treating as caught up", "left", fmt.Sprint(end))
			break
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollRecords(pctx, 10000)
		cancel()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		var aerr error
		fs.EachRecord(func(r *kgo.Record) {
			key := tp{r.Topic, r.Partition}
			e, ok := end[key]
			if !ok || aerr != nil {
				return
			}
			lastProgress = time.Now()
			if r.Offset >= e {
				delete(end, key)
				return
			}
			if !r.Attrs.IsControl() {
				if err := apply(r); err != nil {
					aerr = err
					return
				}
				n++
			}
			if r.Offset >= e-1 {
				delete(end, key)
			}
		})
		if aerr != nil {
			return n, aerr
		}
	}
	return n, nil
}

func (a *App) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	for t, ps := range m {
		st := a.topicSub[t]
		if st == nil {
			continue
		}
		for _, p := range ps {
			a.assigned[TaskID{st.id, p}] = true
		}
	}
	a.cfg.logger.Info("streams: partitions assigned", "partitions", m)
}

func (a *App) onRevoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	if a.sess == nil && a.dirty {
		// At-least-once: commit what was processed before giving it away.
		if err := a.commitALOS(ctx); err != nil {
			a.cfg.logger.Warn("streams: commit on revoke", "err", err)
		}
	}
	a.dropTasks(m, "revoked")
}

func (a *App) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	a.dropTasks(m, "lost")
}

func (a *App) dropTasks(m map[string][]int32, why string) {
	for t, ps := range m {
		st := a.topicSub[t]
		if st == nil {
			continue
		}
		for _, p := range ps {
			id := TaskID{st.id, p}
			delete(a.assigned, id)
			a.closeTask(id, why == "revoked")
		}
		delete(a.offsets, t)
	}
	a.cfg.logger.Info("streams: partitions "+why, "partitions", m)
}

func (a *App) closeTask(id TaskID, checkpoint bool) {
	a.mu.Lock()
	t := a.tasks[id]
	delete(a.tasks, id)
	a.mu.Unlock()
	if t != nil && checkpoint && a.cfg.guarantee == AtLeastOnce {
		a.writeCheckpoints(t)
	}
	if t != nil {
		if err := t.close(); err != nil {
			a.cfg.logger.Warn("streams: close task", "task", id.String(), "err", err)
		}
	}
}

// writeCheckpoints records, for each persistent logged store of a task
// closed cleanly (everything committed), the changelog offset the store
// holds, so the next start restores only what follows.
func (a *App) writeCheckpoints(t *task) {
	for name, s := range t.raw {
		d := a.topo.stores[name]
		if !d.persistent || !d.logged {
			continue
		}
		a.cpMu.Lock()
		off, ok := a.clOffsets[tp{a.topo.changelogTopic(a.cfg.appID, name), t.id.Partition}]
		a.cpMu.Unlock()
		if !ok {
			continue
		}
		if err := s.Flush(); err != nil {
			a.cfg.logger.Warn("streams: flush store for checkpoint", "store", name, "err", err)
			continue
		}
		if err := os.WriteFile(a.storeDir(t.id, name)+".checkpoint", []byte(strconv.FormatInt(off, 10)), 0o644); err != nil {
			a.cfg.logger.Warn("streams: write checkpoint", "store", name, "err", err)
		}
	}
}

// commitALOS flushes stores and the producer, then commits the processed
// offsets: every output and changelog record of a committed input is
// acknowledged first.
func (a *App) commitALOS(ctx context.Context) error {
	for _, t := range a.sortedTasks() {
		if err := t.flush(); err != nil {
			return err
		}
	}
	if err := a.cl.Flush(ctx); err != nil {
		return fmt.Errorf("streams: flush producer: %w", err)
	}
	if p := a.prodErr.Load(); p != nil {
		return &Error{Kind: ErrProduction, Err: *p}
	}
	if len(a.offsets) > 0 {
		var cerr error
		a.cl.CommitOffsetsSync(ctx, a.offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
						cerr = err
					}
				}
			}
		})
		if cerr != nil {
			// A rebalance may have moved the partitions; the next owner
			// reprocesses from the last commit (at-least-once).
			a.cfg.logger.Warn("streams: commit offsets", "err", cerr)
		}
	}
	a.offsets = map[string]map[int32]kgo.EpochOffset{}
	a.dirty = false
	return nil
}

// endTxn commits the open transaction (outputs, changelogs, offsets). If
// it aborts (a rebalance or fencing), local state may hold aborted
// changes: every task is closed and restored from its changelog before it
// processes again, and kgo rewinds the consumer to the committed offsets.
func (a *App) endTxn(ctx context.Context) error {
	if !a.dirty {
		return nil
	}
	for _, t := range a.sortedTasks() {
		if err := t.flush(); err != nil {
			return err
		}
	}
	committed, err := a.sess.End(ctx, kgo.TryCommit)
	a.dirty = false
	a.offsets = map[string]map[int32]kgo.EpochOffset{}
	if err != nil {
		if ctx.Err() != nil {
			a.resetTasks(false)
			return nil
		}
		return fmt.Errorf("streams: end transaction: %w", err)
	}
	if p := a.prodErr.Swap(nil); p != nil && committed {
		return &Error{Kind: ErrProduction, Err: *p}
	}
	if !committed {
		a.cfg.logger.Info("streams: transaction aborted; restoring tasks from changelogs")
		a.resetTasks(false)
	}
	return nil
}

func (a *App) resetTasks(checkpoint bool) {
	for _, t := range a.sortedTasks() {
		a.closeTask(t.id, checkpoint)
	}
}

// shutdown commits (if clean), closes tasks and leaves the group.
func (a *App) shutdown(clean bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if clean {
		if a.sess != nil {
			err = a.endTxn(ctx)
		} else if a.dirty {
			err = a.commitALOS(ctx)
		}
	} else if a.sess != nil && a.dirty {
		_, _ = a.sess.End(ctx, kgo.TryAbort)
	}
	a.resetTasks(clean && err == nil)
	if a.sess != nil {
		a.sess.CloseAllowingRebalance()
	} else {
		a.cl.CloseAllowingRebalance()
	}
	a.cfg.logger.Info("streams: stopped", "application", a.cfg.appID, "instance", a.cfg.instanceID)
	return err
}
