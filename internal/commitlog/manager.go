package commitlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/kavka-io/kavka/internal/vfs"
)

// Data-directory files, named as in Kafka.
const (
	cleanShutdownName    = ".kafka_cleanshutdown"
	recoveryPointName    = "recovery-point-offset-checkpoint"
	logStartName         = "log-start-offset-checkpoint"
	replicationName      = "replication-offset-checkpoint"
	cleanerOffsetName    = "cleaner-offset-checkpoint"
	checkpointIntervalMs = 10_000

	// loadWorkers bounds the logs Load opens at once.
	loadWorkers = 8
	// createWorkers bounds the logs CreateMany creates at once.
	createWorkers = 16
)

// Manager owns a data directory of logs (<topic>-<partition>/), its
// checkpoint files and clean-shutdown marker, and the background work.
// Mirrors kafka.log.LogManager. Its methods are safe for concurrent use.
type Manager struct {
	fs   vfs.FS
	dir  string
	opts Options
	hc   *handleCache
	sync *syncer // group commit across the logs while Run runs

	// tick is how often Run wakes up (tests shorten it).
	tick time.Duration
	// scrub checks the logs' batches in the background (scrub.go); owned
	// by Run's goroutine, made by Run from tick.
	scrub *scrubber

	mu   sync.Mutex
	logs map[partitionKey]*Log // guarded by mu
	// creating holds the partitions CreateMany is creating (not yet in
	// logs): Create and CreateMany refuse them with ErrExists.
	creating map[partitionKey]struct{} // guarded by mu
	closed   bool                      // guarded by mu
	loaded   bool                      // guarded by mu

	lastCheckpointMs int64 // owned by Run's goroutine
}

// NewManager returns a manager of the data directory dir, creating it if
// missing. It starts nothing and opens no log: call Load, then Run.
func NewManager(fs vfs.FS, dir string, opts Options) (*Manager, error) {
	opts.fill()
	if err := mkdirAllDurable(fs, dir); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return &Manager{
		fs: fs, dir: dir, opts: opts, hc: newHandleCache(opts.MaxOpenFiles), sync: newSyncer(opts.SyncWorkers),
		tick: time.Second, logs: make(map[partitionKey]*Log), creating: make(map[partitionKey]struct{}),
	}, nil
}

// clusterMetadataTopic names the metadata log's directory
// (__cluster_metadata-0), which Load leaves alone.
const clusterMetadataTopic = "__cluster_metadata"

// Load opens every log in the data directory, with the configuration
// cfgFor returns. After an unclean shutdown (no marker) each log is
// recovered from its recovery point; then the marker is removed, so a crash
// from now on is seen as unclean. Directories that are not
// "<topic>-<partition>" are skipped; "-delete" directories left by an
// interrupted Remove are removed.
func (m *Manager) Load(cfgFor func(topic string, partition int32) Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	marker := m.fs.PathJoin(m.dir, cleanShutdownName)
	_, err := m.fs.Stat(marker)
	clean := err == nil
	rp, rpErr := readOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, recoveryPointName))
	ls, _ := readOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, logStartName))
	hw, _ := readOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, replicationName))
	co, _ := readOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, cleanerOffsetName))
	if rpErr != nil && !isNotExist(rpErr) {
		m.opts.Logger.Warn("recovery point checkpoint unreadable; recovering logs fully", "err", rpErr)
	}
	names, err := m.fs.List(m.dir)
	if err != nil {
		return fmt.Errorf("list data dir: %w", err)
	}
	type job struct {
		k   partitionKey
		dir string
		l   *Log
		err error
	}
	var jobs []*job
	for _, name := range names {
		p := m.fs.PathJoin(m.dir, name)
		if len(name) > 7 && name[len(name)-7:] == "-delete" {
			if err := m.fs.RemoveAll(p); err != nil {
				return fmt.Errorf("remove %s: %w", name, err)
			}
			continue
		}
		topic, part, ok := parseLogDirName(name)
		if !ok || topic == clusterMetadataTopic {
			// The metadata log lives beside the partition logs, as in
			// KRaft, but it is owned by internal/metadata, not by us.
			continue
		}
		fi, err := m.fs.Stat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		k := partitionKey{topic, part}
		if _, dup := m.logs[k]; dup {
			continue
		}
		jobs = append(jobs, &job{k: k, dir: p})
	}
	get := func(mp map[partitionKey]int64, k partitionKey) int64 {
		if v, ok := mp[k]; ok {
			return v
		}
		return -1
	}
	// Open the logs with a bounded pool: opening is mostly waiting for
	// small reads, opens and stats, which overlap well (10,000 partitions
	// took 21 s one after another). The workers are joined before Load
	// goes on; each opens whole logs, so recovery is unchanged.
	next := make(chan *job)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				j.l, j.err = openLog(m.fs, j.dir, cfgFor(j.k.topic, j.k.partition), m.opts, openState{
					clean: clean, recoveryPoint: get(rp, j.k), logStart: get(ls, j.k), hw: get(hw, j.k), cleanedTo: get(co, j.k),
					hc: m.hc, syncer: m.sync, topic: j.k.topic, partition: j.k.partition,
				})
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	var errs []error
	for _, j := range jobs {
		if j.err != nil {
			errs = append(errs, j.err)
			continue
		}
		m.logs[j.k] = j.l
	}
	if len(errs) > 0 {
		return errs[0]
	}
	if clean {
		if err := m.fs.Remove(marker); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove clean shutdown marker: %w", err)
		}
		if err := syncDir(m.fs, m.dir); err != nil {
			return err
		}
	}
	m.loaded = true
	return nil
}

// Create creates and opens a new, empty log.
func (m *Manager) Create(topic string, partition int32, cfg Config) (*Log, error) {
	if topic == "" || partition < 0 {
		return nil, fmt.Errorf("%w: topic %q partition %d", ErrInvalidConfig, topic, partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	k := partitionKey{topic, partition}
	if m.existsLocked(k) {
		return nil, fmt.Errorf("%w: %s", ErrExists, logDirName(topic, partition))
	}
	l, err := openLog(m.fs, m.fs.PathJoin(m.dir, logDirName(topic, partition)), cfg, m.opts, openState{
		recoveryPoint: -1, logStart: -1, hw: -1, cleanedTo: -1, hc: m.hc, syncer: m.sync, topic: topic, partition: partition,
	})
	if err != nil {
		return nil, err
	}
	m.logs[k] = l
	return l, nil
}

// existsLocked reports whether partition k has a log or one is being
// created. m.mu must be held.
func (m *Manager) existsLocked(k partitionKey) bool {
	_, ok := m.logs[k]
	_, creating := m.creating[k]
	return ok || creating
}

// NewLog names a log for CreateMany.
type NewLog struct {
	Topic     string
	Partition int32
	Config    Config
}

// CreateMany creates and opens new, empty logs, as Create does one at a
// time, and returns each one's log or error, in the order of specs (an
// ErrExists error for a partition that already has a log or is being
// created). It is what a broker does when one metadata change gives it
// thousands of partitions (docs/benchmarks.md "Metadata propagation"):
//
//   - the partition directories are made first and made durable together
//     by one fsync of the data directory, where Create fsyncs it once per
//     log; no log is returned, so nothing can be written to one, before
//     that fsync succeeded;
//   - the logs are then opened by a bounded pool of createWorkers
//     goroutines (joined before it returns): each creates its first
//     segment and fsyncs its own directory, and the file system merges
//     the concurrent fsyncs into shared journal commits.
//
// Manager.mu is not held while the files are made, so Get and the logs
// already open are not held up; the new logs become visible to Get all
// at once when CreateMany returns.
func (m *Manager) CreateMany(specs []NewLog) ([]*Log, []error) {
	logs, errs := make([]*Log, len(specs)), make([]error, len(specs))
	var todo []int
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		for i := range errs {
			errs[i] = ErrClosed
		}
		return logs, errs
	}
	for i, sp := range specs {
		k := partitionKey{sp.Topic, sp.Partition}
		switch {
		case sp.Topic == "" || sp.Partition < 0:
			errs[i] = fmt.Errorf("%w: topic %q partition %d", ErrInvalidConfig, sp.Topic, sp.Partition)
		case m.existsLocked(k):
			errs[i] = fmt.Errorf("%w: %s", ErrExists, logDirName(sp.Topic, sp.Partition))
		default:
			m.creating[k] = struct{}{}
			todo = append(todo, i)
		}
	}
	m.mu.Unlock()
	if len(todo) == 0 {
		return logs, errs
	}

	// 1. Every partition directory, then one fsync of the data directory.
	made := todo[:0:0]
	for _, i := range todo {
		dir := m.fs.PathJoin(m.dir, logDirName(specs[i].Topic, specs[i].Partition))
		if err := m.fs.MkdirAll(dir, 0o755); err != nil {
			errs[i] = fmt.Errorf("open log %s: create dir: %w", dir, err)
			continue
		}
		made = append(made, i)
	}
	if len(made) > 0 {
		if err := syncDir(m.fs, m.dir); err != nil {
			for _, i := range made {
				errs[i] = fmt.Errorf("open log %s: %w", logDirName(specs[i].Topic, specs[i].Partition), err)
			}
			made = nil
		}
	}

	// 2. The logs, by a bounded pool.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(createWorkers, len(made)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sp := specs[i]
				logs[i], errs[i] = openLog(m.fs, m.fs.PathJoin(m.dir, logDirName(sp.Topic, sp.Partition)), sp.Config, m.opts, openState{
					recoveryPoint: -1, logStart: -1, hw: -1, cleanedTo: -1, hc: m.hc, syncer: m.sync, topic: sp.Topic, partition: sp.Partition,
				})
			}
		}()
	}
	for _, i := range made {
		next <- i
	}
	close(next)
	wg.Wait()

	// 3. Published together, unless the Manager was closed meanwhile.
	m.mu.Lock()
	closed := m.closed
	for _, i := range todo {
		k := partitionKey{specs[i].Topic, specs[i].Partition}
		delete(m.creating, k)
		if logs[i] != nil && !closed {
			m.logs[k] = logs[i]
		}
	}
	m.mu.Unlock()
	if closed {
		for _, i := range todo {
			if logs[i] != nil {
				logs[i].Close()
				logs[i], errs[i] = nil, ErrClosed
			}
		}
	}
	return logs, errs
}

// SetProducerIDExpiration sets producer.id.expiration.ms for the open logs
// and the ones opened later.
func (m *Manager) SetProducerIDExpiration(d time.Duration) {
	m.mu.Lock()
	m.opts.ProducerIDExpiration = d
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	m.mu.Unlock()
	for _, l := range logs {
		l.SetProducerIDExpiration(d)
	}
}

// Get returns the open log of a partition.
func (m *Manager) Get(topic string, partition int32) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[partitionKey{topic, partition}]
	return l, ok
}

// Remove closes a log and deletes its directory.
func (m *Manager) Remove(topic string, partition int32) error {
	m.mu.Lock()
	k := partitionKey{topic, partition}
	l, ok := m.logs[k]
	delete(m.logs, k)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return l.Delete()
}

// Logs returns the open logs, sorted by topic and partition.
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// Run does the background work until ctx is done: the fsyncs of durable
// logs (a bounded pool of Options.SyncWorkers goroutines, group commit
// across partitions), retention, the cleaner, the flush.ms flusher, removal
// of .deleted files, checkpoints and the scrub (Options.ScrubBytesPerSecond). It runs on the caller's goroutine,
// waits for the fsync workers before returning, and returns nil when ctx
// is done.
func (m *Manager) Run(ctx context.Context) error {
	if m.sync.start() {
		defer m.sync.stop()
	}
	m.scrub = newScrubber(m.opts.ScrubBytesPerSecond, m.tick, m.opts.ScrubInterval)
	t := time.NewTicker(m.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.runOnce(ctx)
		}
	}
}

// runOnce does one round of background work.
func (m *Manager) runOnce(ctx context.Context) {
	now := m.opts.Clock.Now().UnixMilli()
	for _, l := range m.Logs() {
		if ctx.Err() != nil {
			return
		}
		if l.Offline() {
			continue
		}
		if err := l.maybeFlushByTime(now); err != nil {
			m.opts.Logger.Warn("flush", "topic", l.topic, "partition", l.partition, "err", err)
		}
		if _, err := l.applyRetention(now); err != nil {
			m.opts.Logger.Warn("retention", "topic", l.topic, "partition", l.partition, "err", err)
		}
		if _, err := l.maybeClean(ctx, now); err != nil && !errors.Is(err, context.Canceled) {
			m.opts.Logger.Warn("cleaner", "topic", l.topic, "partition", l.partition, "err", err)
		}
		l.sweepTrash(now)
	}
	m.scrub.run(ctx, now, m.Logs, m.opts.Logger)
	if now-m.lastCheckpointMs >= checkpointIntervalMs {
		m.lastCheckpointMs = now
		if err := m.checkpoint(); err != nil {
			m.opts.Logger.Warn("write checkpoints", "err", err)
		}
	}
}

// checkpoint writes the data directory's checkpoint files.
func (m *Manager) checkpoint() error {
	rp := map[partitionKey]int64{}
	ls := map[partitionKey]int64{}
	hw := map[partitionKey]int64{}
	co := map[partitionKey]int64{}
	for _, l := range m.Logs() {
		k := partitionKey{l.topic, l.partition}
		l.mu.RLock()
		rp[k] = l.flushed.Load()
		ls[k] = l.logStart
		hw[k] = l.hw.Load()
		co[k] = l.cleanedTo
		l.mu.RUnlock()
	}
	return errors.Join(
		writeOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, recoveryPointName), rp),
		writeOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, logStartName), ls),
		writeOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, replicationName), hw),
		writeOffsetsCheckpoint(m.fs, m.fs.PathJoin(m.dir, cleanerOffsetName), co),
	)
}

// Close closes every log, writes the checkpoints and, if all of that
// succeeded, the clean-shutdown marker.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	var errs []error
	offline := false
	for _, l := range m.Logs() {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
		offline = offline || l.Offline()
	}
	if err := m.checkpoint(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 && !offline {
		if err := writeFileAtomic(m.fs, m.fs.PathJoin(m.dir, cleanShutdownName), nil, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
