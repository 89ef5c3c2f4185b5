package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/httpapi"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/network"
	"github.com/kavka-io/kavka/internal/purgatory"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/txn"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Options are the process-level dependencies of a Server.
type Options struct {
	FS     vfs.FS       // nil = vfs.Default (the operating system's)
	Clock  clock.Clock  // nil = clock.Real
	Logger *slog.Logger // nil = slog.Default()

	// SendfileMinBytes is network.Config.SendfileMinBytes: fetched record
	// regions at least this long go out with sendfile(2). 0 = the default,
	// negative = never (tests compare both paths).
	SendfileMinBytes int64

	// Meta, when set, is a metadata store shared with other in-process
	// brokers (a static multi-broker cluster for tests, see
	// test/replication); the server neither opens nor closes it.
	Meta *metadata.Store

	// LogDirProbeInterval is how often a failed log directory is probed
	// before Run stops with ErrRestart (logdir.go). 0 means
	// DefaultLogDirProbeInterval.
	LogDirProbeInterval time.Duration

	// wrapBrokers, when set, wraps the client for requests to other
	// brokers (tests hold an inter-broker request at a chosen point).
	wrapBrokers func(handler.BrokerClient) handler.BrokerClient
}

// Server is one broker. New opens everything and binds the listener; Run
// serves until its context ends.
type Server struct {
	cfg    *config.Broker
	opts   Options
	logger *slog.Logger

	meta   *metadata.Store
	quorum *quorumNode // cluster mode (controller.go); nil in single-node mode
	logs   *commitlog.Manager
	net    *network.Server
	reqs   *httpapi.RequestMetrics // nil unless admin.listener is set
	waits  *purgatory.Purgatory[handler.TopicPartition]
	groups *group.Coordinator
	txn    *txn.Coordinator

	replicas *replica.Manager // partition leader/follower state (replica.go)
	stopped  atomic.Bool      // Run returned: a shared store's changes are ignored
	dir      *logDirState     // the log directory's health (logdir.go)
	started  time.Time        // when New ran

	topicCfgs atomic.Pointer[map[string]config.Topic] // resolved topic configs, by topic

	syncMu        sync.Mutex      // serializes syncLogs (subscriber, runSync and start-up)
	wasLive       bool            // guarded by syncMu: selfLive at the last syncReplicas (replica.go)
	wasRegistered bool            // guarded by syncMu: selfRegistered at the last syncReplicas
	synced        *metadata.Image // guarded by syncMu: the image the logs and replicas were last made to match

	// In cluster mode the metadata subscriber only hands the newest image
	// to runSync (syncNext, syncWake: one slot), which creates the logs
	// and applies the replica states off the raft apply path.
	syncNext atomic.Pointer[metadata.Image]
	syncWake chan struct{}

	// Coordinator shards to load after this broker became their partition's
	// leader (coordinators.go): loadMu guards the two lists.
	loadMu     sync.Mutex
	loadGroups []int32
	loadTxn    []int32
	loadWake   chan struct{} // one slot
}

// New builds a broker from cfg: it binds the listener (so Addr is known,
// also for port 0), opens the metadata store and loads the partition logs.
// On error everything opened is closed again.
func New(cfg *config.Broker, opts Options) (s *Server, err error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg = cfg.Clone()
	s = &Server{cfg: cfg, opts: opts, logger: opts.Logger, waits: purgatory.New[handler.TopicPartition](), loadWake: make(chan struct{}, 1),
		syncWake: make(chan struct{}, 1), dir: newLogDirState(), started: time.Now()}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	h := handler.New(handler.Deps{}) // replaced below; Listen needs a Handler
	lazy := &lazyHandler{}
	lazy.h.Store(h)
	var observe func(int16, time.Duration, int64)
	if cfg.AdminListener != "" {
		s.reqs = httpapi.NewRequestMetrics()
		observe = s.reqs.Observe
	}
	s.net, err = network.Listen(cfg.Listen, lazy, network.Config{
		MaxRequestSize: cfg.SocketRequestMaxBytes,
		IdleTimeout:    time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		MaxConnections: int(cfg.MaxConnections),
		Logger:         opts.Logger,

		SendfileMinBytes: opts.SendfileMinBytes,
		Observe:          observe,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, s.net.Close)

	// With port 0 the advertised address is the one bound.
	host, port := cfg.AdvertisedHostPort()
	if port == 0 {
		if a, ok := s.net.Addr().(*net.TCPAddr); ok {
			port = int32(a.Port)
			if err := cfg.Set("advertised.listeners", net.JoinHostPort(host, strconv.Itoa(a.Port))); err != nil {
				return nil, fmt.Errorf("advertise bound port: %w", err)
			}
		}
	}
	if s.meta = opts.Meta; s.meta == nil {
		mopts := metadata.Options{
			Self:      metadata.Broker{NodeID: cfg.NodeID, Host: host, Port: port, Rack: rack(cfg.Rack)},
			ClusterID: cfg.ClusterID,
			Config:    cfg,
			Logger:    opts.Logger,
			Clock:     opts.Clock,
		}
		if cfg.Quorum() { // cluster mode: controller.go
			if s.quorum, err = openQuorum(opts.FS, cfg, opts.Logger, mopts, s.net.Addr); err != nil {
				return nil, fmt.Errorf("open metadata quorum: %w", err)
			}
			q := s.quorum // the closer runs after `return nil, err` has set s to nil
			closers = append(closers, func() error { q.close(); return nil })
			s.meta, s.quorum.dir = s.quorum.meta, s.dir
			s.quorum.lease.onChange = s.leaseChanged
			s.quorum.movedAway = func(im *metadata.Image) { s.syncTo(im, false, 0) }
		} else if s.meta, err = metadata.Open(opts.FS, cfg.DataDir, mopts); err != nil {
			return nil, fmt.Errorf("open metadata: %w", err)
		}
		closers = append(closers, s.meta.Close)
	}

	s.logs, err = commitlog.NewManager(opts.FS, cfg.DataDir, commitlog.Options{
		Clock: opts.Clock, Logger: opts.Logger, OnOffline: s.logOffline,
		// A corrupt batch (ADR 0008) is cut and re-fetched from the leader in
		// a cluster; a single node has nothing to re-fetch from.
		TruncateCorrupt:     cfg.Quorum(),
		ScrubBytesPerSecond: cfg.LogScrubBytesPerSecond,
		ScrubInterval:       time.Duration(cfg.LogScrubIntervalMs) * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	closers = append(closers, s.logs.Close)

	s.replicas = s.newReplicas()
	im := s.meta.Subscribe(func(_, next *metadata.Image) {
		switch {
		case s.stopped.Load():
		case s.quorum != nil:
			// Cluster mode: the subscriber runs on the raft apply path of
			// this node, which is also the controller's; creating the logs
			// of thousands of new partitions there held up every
			// metadata change (docs/benchmarks.md "Metadata propagation").
			s.syncNext.Store(next)
			select {
			case s.syncWake <- struct{}{}:
			default:
			}
		default:
			s.syncTo(next, false, 0)
		}
	})
	s.refreshTopicConfigs(im)
	if err := s.logs.Load(func(topic string, _ int32) commitlog.Config { return s.logConfig(topic) }); err != nil {
		if isLogDirFailure(err) { // logdir.go: the caller waits and tries again
			return nil, fmt.Errorf("load logs: %w: %w", ErrLogDirFailed, err)
		}
		return nil, fmt.Errorf("load logs: %w", err)
	}
	// The replica manager sets each high watermark: on a single node (a
	// leader alone in its ISR) the durable end, which after Load (and
	// recovery) is the log end offset.
	s.syncTo(s.meta.Image(), true, 0)

	if s.groups, err = s.newGroups(); err != nil {
		return nil, err
	}
	if s.txn, err = s.newTxn(lazy); err != nil {
		return nil, err
	}

	lazy.h.Store(handler.New(handler.Deps{
		NodeID:      cfg.NodeID,
		Logger:      opts.Logger,
		Clock:       opts.Clock,
		Config:      cfg,
		Meta:        s.meta,
		Image:       s.meta.Image,
		Logs:        managerLogs{s.logs},
		Waits:       s.waits,
		TopicConfig: s.topicConfig,
		LogDir:      cfg.DataDir,
		Groups:      s.groups,
		Txn:         s.txn,
		Replicas:    s.replicas,
		Brokers:     s.wrappedBrokers(),
	}))
	return s, nil
}

// wrappedBrokers is brokers, through Options.wrapBrokers if set.
func (s *Server) wrappedBrokers() handler.BrokerClient {
	b := s.brokers()
	if b == nil || s.opts.wrapBrokers == nil {
		return b
	}
	return s.opts.wrapBrokers(b)
}

func rack(r string) *string {
	if r == "" {
		return nil
	}
	return &r
}

// Addr returns the address the broker listens on.
func (s *Server) Addr() net.Addr { return s.net.Addr() }

// Meta returns the metadata store, for tests and in-process tools.
func (s *Server) Meta() *metadata.Store { return s.meta }

// Run serves until ctx ends, then stops gracefully and closes the logs
// (writing the clean-shutdown marker) and the metadata store. It returns
// the first error of the listener or the log manager, or ErrRestart when
// it stopped because a failed log directory is writable again (logdir.go).
func (s *Server) Run(ctx context.Context) error {
	var admin *httpapi.Server
	if s.cfg.AdminListener != "" {
		var err error
		if admin, err = s.newAdmin(); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.net.Run(gctx) })
	if s.quorum != nil {
		g.Go(func() error { return s.quorum.run(gctx) })
		g.Go(func() error { return s.runSync(gctx) })
	}
	g.Go(func() error { return s.groups.Run(gctx) })
	g.Go(func() error { return s.replicas.Run(gctx) })
	g.Go(func() error { return s.txn.Run(gctx) })
	g.Go(func() error { return s.loadLedShards(gctx) })
	g.Go(func() error { return s.watchLogDir(gctx) })
	g.Go(func() error {
		if err := s.logs.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("log manager: %w", err)
		}
		return nil
	})
	if admin != nil {
		g.Go(func() error { return admin.Run(gctx) })
	}
	s.logger.Info("kavka ready", "listen", s.Addr().String(), "node", s.cfg.NodeID, "data_dir", s.cfg.DataDir)
	err := g.Wait()
	s.stopped.Store(true)
	if cerr := s.logs.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close logs: %w", cerr)
	}
	if s.opts.Meta == nil {
		if cerr := s.meta.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close metadata: %w", cerr)
		}
	}
	s.logger.Info("kavka stopped")
	return err
}

// runSync makes the logs and replicas match the newest published image
// (cluster mode) until ctx ends. Images published while it works are
// coalesced: the next round goes from the image it synced last to the
// newest one.
func (s *Server) runSync(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.syncWake:
		}
		if im := s.syncNext.Swap(nil); im != nil && !s.stopped.Load() {
			if more := s.syncTo(im, false, syncCreateChunk); more {
				// Another round for the rest, or for a newer image if
				// one came meanwhile.
				s.syncNext.CompareAndSwap(nil, im)
				select {
				case s.syncWake <- struct{}{}:
				default:
				}
			}
		}
	}
}

// syncCreateChunk bounds the logs one runSync round creates, so that the
// replicas whose logs exist (the new ones included) get their states
// applied, and newer images are taken up, every few seconds while
// thousands of logs are created.
const syncCreateChunk = 1000

// syncTo makes the logs and replicas match im, from the image they were
// last made to match (none at start-up), then queues the coordinator
// shards of newly led internal partitions. It creates at most limit logs
// (0: no limit) and reports whether some are still missing: the replicas
// of those are applied by a later round, once their logs exist (a replica
// without a log is never applied, so the next round applies it whatever
// prev says).
func (s *Server) syncTo(im *metadata.Image, startup bool, limit int) (more bool) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	prev := s.synced
	if startup {
		prev = nil
	} else if prev != nil && im.Offset < prev.Offset {
		return false // older than what start-up synced: never go back
	}
	more = s.syncLogs(prev, im, limit)
	s.noteLeadership(prev, im)
	s.synced = im
	return more
}

// syncLogs makes the local logs match im: a log for every partition, none
// for topics deleted (or deleted and created again: a new topic id) since
// prev, configs applied. At start (prev nil) logs the image does not know
// are kept and logged, never deleted: losing data to a metadata mistake is
// worse than an orphan directory. prev may be several images before im.
// It creates at most limit logs (0: no limit) and reports whether more are
// missing. s.syncMu must be held.
func (s *Server) syncLogs(prev, im *metadata.Image, limit int) (more bool) {
	s.refreshTopicConfigs(im)
	for _, l := range s.logs.Logs() {
		t := im.Topic(l.Topic())
		gone := t == nil || int(l.Partition()) >= len(t.Partitions)
		if !gone && prev != nil {
			// Deleted and created again between prev and im: the old log goes.
			pt := prev.Topic(l.Topic())
			gone = pt != nil && pt.ID != t.ID && int(l.Partition()) < len(pt.Partitions)
		}
		if !gone {
			continue
		}
		if prev == nil {
			s.logger.Warn("log not in metadata; kept", "topic", l.Topic(), "partition", l.Partition())
			continue
		}
		if pt := prev.Topic(l.Topic()); pt == nil || int(l.Partition()) >= len(pt.Partitions) {
			continue // not ours to remove: it was not in the previous image either
		}
		if err := s.logs.Remove(l.Topic(), l.Partition()); err != nil {
			s.logger.Error("remove log", "topic", l.Topic(), "partition", l.Partition(), "err", err)
		}
	}
	var missing []commitlog.NewLog
	for _, name := range im.TopicNames() {
		t := im.Topic(name)
		cfg := s.logConfig(name)
		for i := range t.Partitions {
			if !slices.Contains(t.Partitions[i].Replicas, s.cfg.NodeID) {
				continue // another broker's replica
			}
			if l, ok := s.logs.Get(name, int32(i)); ok {
				if l.Config() != cfg {
					if err := l.SetConfig(cfg); err != nil {
						s.logger.Error("apply topic config", "topic", name, "partition", i, "err", err)
					}
				}
				continue
			}
			missing = append(missing, commitlog.NewLog{Topic: name, Partition: int32(i), Config: cfg})
		}
	}
	if limit > 0 && len(missing) > limit {
		missing, more = missing[:limit], true
	}
	if len(missing) > 0 {
		// All at once: one fsync of the data directory, a pool of workers.
		_, errs := s.logs.CreateMany(missing)
		for i, err := range errs {
			if err != nil && !errors.Is(err, commitlog.ErrExists) {
				s.logger.Error("create log", "topic", missing[i].Topic, "partition", missing[i].Partition, "err", err)
			}
		}
	}
	s.syncReplicas(prev, im)
	return more
}

// refreshTopicConfigs resolves every topic's config against the broker's.
func (s *Server) refreshTopicConfigs(im *metadata.Image) {
	m := make(map[string]config.Topic, len(im.Topics))
	for name, t := range im.Topics {
		tc, err := s.cfg.ResolveTopic(t.Configs)
		if err != nil {
			s.logger.Error("topic config", "topic", name, "err", err)
			tc = s.cfg.Log
		}
		m[name] = tc
	}
	s.topicCfgs.Store(&m)
}

func (s *Server) topicConfig(topic string) config.Topic {
	if m := s.topicCfgs.Load(); m != nil {
		if tc, ok := (*m)[topic]; ok {
			return tc
		}
	}
	return s.cfg.Log
}

func (s *Server) logConfig(topic string) commitlog.Config {
	return LogConfig(s.topicConfig(topic))
}

// LogConfig maps a resolved topic config to the partition log's.
func LogConfig(tc config.Topic) commitlog.Config {
	c := commitlog.Config{
		SegmentBytes:           int64(tc.SegmentBytes),
		SegmentMs:              tc.SegmentMs,
		SegmentIndexBytes:      tc.SegmentIndexBytes,
		IndexIntervalBytes:     tc.IndexIntervalBytes,
		RetentionMs:            tc.RetentionMs,
		RetentionBytes:         tc.RetentionBytes,
		CleanupCompact:         tc.CleanupCompact,
		CleanupDelete:          tc.CleanupDelete,
		DeleteRetentionMs:      tc.DeleteRetentionMs,
		MinCompactionLagMs:     tc.MinCompactionLagMs,
		MaxCompactionLagMs:     tc.MaxCompactionLagMs,
		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio,
		MaxMessageBytes:        tc.MaxMessageBytes,
		LogAppendTime:          tc.LogAppendTime,
		FileDeleteDelayMs:      tc.FileDeleteDelayMs,
	}
	if !tc.SyncOnAck {
		c.FlushMessages, c.FlushMs = tc.FlushMessages, tc.FlushMs
	}
	if err := c.Validate(); err != nil {
		// ResolveTopic validated the values; a mismatch of ranges between
		// config and commitlog falls back to the defaults.
		return commitlog.DefaultConfig()
	}
	return c
}

// managerLogs adapts *commitlog.Manager to handler.Logs.
type managerLogs struct{ m *commitlog.Manager }

func (m managerLogs) Get(topic string, partition int32) *commitlog.Log {
	l, _ := m.m.Get(topic, partition)
	return l
}

// lazyHandler lets the listener exist before the handlers it serves.
type lazyHandler struct {
	h atomic.Pointer[handler.Handlers]
}

func (l *lazyHandler) Handle(ctx context.Context, rc *handler.RequestContext, req kmsg.Request) kmsg.Response {
	return l.h.Load().Handle(ctx, rc, req)
}

// newAdmin builds the admin HTTP listener (admin.listener): /healthz,
// /metrics with request counts and latencies per API and each partition
// log's offsets, /debug/pprof.
func (s *Server) newAdmin() (*httpapi.Server, error) {
	return httpapi.New(httpapi.Config{
		Addr:   s.cfg.AdminListener,
		Logger: s.logger,
		Collectors: []prometheus.Collector{s.reqs, httpapi.LogCollector(func(yield func(httpapi.PartitionOffsets)) {
			for _, l := range s.logs.Logs() {
				yield(httpapi.PartitionOffsets{
					Topic: l.Topic(), Partition: l.Partition(), LogEnd: l.LogEndOffset(),
					HighWatermark: l.HighWatermark(), Durable: l.DurableOffset(), Offline: l.Offline(),
				})
			}
		})},
	})
}
