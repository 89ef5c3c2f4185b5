package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/connect"
)

// State is a connector's or task's state as the status API reports it.
type State string

// States (Kafka's AbstractStatus.State).
const (
	StateUnassigned State = "UNASSIGNED"
	StateRunning    State = "RUNNING"
	StatePaused     State = "PAUSED"
	StateFailed     State = "FAILED"
	StateRestarting State = "RESTARTING"
	StateStopped    State = "STOPPED"
)

// TargetState is what an operator asked a connector to be.
type TargetState string

// Target states (pause/resume/stop, KIP-875).
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// TaskID names a task.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

func (id TaskID) String() string { return fmt.Sprintf("%s-%d", id.Connector, id.Task) }

// Status is one connector's or task's state.
type Status struct {
	State    State  `json:"state"`
	Trace    string `json:"trace,omitempty"`
	WorkerID string `json:"worker_id"`
}

// StatusListener receives state changes from a worker. Calls may come from
// any goroutine.
type StatusListener interface {
	ConnectorStatus(name string, st Status)
	TaskStatus(id TaskID, st Status)
}

// WorkerConfig is the worker's configuration (WORKER.properties).
type WorkerConfig struct {
	Props map[string]string

	BootstrapServers    []string
	WorkerID            string // advertised host:port
	RestURL             string // advertised REST URL, http://WorkerID (distributed: where others forward writes)
	OffsetFlushInterval time.Duration
	OffsetFlushTimeout  time.Duration
	ShutdownTimeout     time.Duration
}

// ParseWorkerConfig reads the keys the worker itself uses and keeps the
// rest (converters, producer.* and consumer.* overrides) in Props.
func ParseWorkerConfig(props map[string]string) (WorkerConfig, error) {
	c := WorkerConfig{Props: props}
	c.BootstrapServers = connect.SplitList(props["bootstrap.servers"])
	if len(c.BootstrapServers) == 0 {
		c.BootstrapServers = []string{"localhost:9092"}
	}
	ms := func(key string, def int64) (time.Duration, error) {
		v, ok := props[key]
		if !ok || strings.TrimSpace(v) == "" {
			return time.Duration(def) * time.Millisecond, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("worker config %s: invalid value %q", key, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	var err error
	if c.OffsetFlushInterval, err = ms("offset.flush.interval.ms", 60000); err != nil {
		return c, err
	}
	if c.OffsetFlushTimeout, err = ms("offset.flush.timeout.ms", 5000); err != nil {
		return c, err
	}
	if c.ShutdownTimeout, err = ms("task.shutdown.graceful.timeout.ms", 5000); err != nil {
		return c, err
	}
	host := props["rest.advertised.host.name"]
	if host == "" {
		host, _ = os.Hostname()
	}
	port := props["rest.advertised.port"]
	if port == "" {
		port = "8083"
		if l := firstListener(props); l != "" {
			if _, p, err := net.SplitHostPort(l); err == nil {
				port = p
			}
		}
	}
	c.WorkerID = net.JoinHostPort(host, port)
	scheme := props["rest.advertised.listener"]
	if scheme == "" {
		scheme = "http"
	}
	c.RestURL = scheme + "://" + c.WorkerID
	return c, nil
}

// firstListener returns the host:port of the first REST listener.
func firstListener(props map[string]string) string {
	ls := connect.SplitList(props["listeners"])
	if len(ls) == 0 {
		return ""
	}
	l := ls[0]
	l = strings.TrimPrefix(strings.TrimPrefix(l, "http://"), "https://")
	return l
}

// Worker runs connector instances and tasks. It owns one goroutine per task;
// StopTask and Close join them. Which connectors and tasks a worker runs is
// decided by a herder (standalone or distributed).
type Worker struct {
	cfg     WorkerConfig
	plugins *Plugins
	offsets OffsetStore
	status  StatusListener
	log     *slog.Logger

	mu sync.Mutex
	// The fields below are guarded by mu.
	connectors map[string]*connectorRun
	tasks      map[TaskID]*taskRun
}

type connectorRun struct {
	name   string
	cfg    map[string]string
	plugin *Plugin
	conn   connect.Connector
}

// NewWorker returns a worker; it starts nothing.
func NewWorker(cfg WorkerConfig, plugins *Plugins, offsets OffsetStore, status StatusListener, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.Default()
	}
	return &Worker{cfg: cfg, plugins: plugins, offsets: offsets, status: status, log: log,
		connectors: map[string]*connectorRun{}, tasks: map[TaskID]*taskRun{}}
}

// ID returns the worker id reported in statuses.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// StartConnector instantiates and starts a connector.
func (w *Worker) StartConnector(ctx context.Context, name string, cfg map[string]string) error {
	w.mu.Lock()
	_, running := w.connectors[name]
	w.mu.Unlock()
	if running {
		return fmt.Errorf("connector %s already running on this worker", name)
	}
	cr, err := w.newConnector(ctx, name, cfg)
	if err != nil {
		w.status.ConnectorStatus(name, Status{State: StateFailed, Trace: err.Error(), WorkerID: w.ID()})
		return err
	}
	w.mu.Lock()
	w.connectors[name] = cr
	w.mu.Unlock()
	w.status.ConnectorStatus(name, Status{State: StateRunning, WorkerID: w.ID()})
	return nil
}

func (w *Worker) newConnector(ctx context.Context, name string, cfg map[string]string) (*connectorRun, error) {
	pl, err := w.plugins.Lookup(cfg["connector.class"])
	if err != nil {
		return nil, err
	}
	conn := pl.New()
	if probs := conn.Config().Validate(cfg); len(probs) > 0 {
		var msgs []string
		for _, k := range slices.Sorted(maps.Keys(probs)) {
			msgs = append(msgs, probs[k]...)
		}
		return nil, fmt.Errorf("connector %s: %s", name, strings.Join(msgs, "; "))
	}
	if err := conn.Start(ctx, cfg); err != nil {
		return nil, fmt.Errorf("start connector %s: %w", name, err)
	}
	return &connectorRun{name: name, cfg: cfg, plugin: pl, conn: conn}, nil
}

// ConnectorTaskConfigs asks a running connector for its task configurations.
func (w *Worker) ConnectorTaskConfigs(name string) ([]map[string]string, error) {
	w.mu.Lock()
	cr := w.connectors[name]
	w.mu.Unlock()
	if cr == nil {
		return nil, fmt.Errorf("connector %s not running on this worker", name)
	}
	max := 1
	if v := cr.cfg["tasks.max"]; v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("connector %s: tasks.max must be a positive integer", name)
		}
		max = n
	}
	tcs, err := cr.conn.TaskConfigs(max)
	if err != nil {
		return nil, fmt.Errorf("connector %s task configs: %w", name, err)
	}
	if len(tcs) > max {
		tcs = tcs[:max]
	}
	return tcs, nil
}

// StopConnector stops a connector instance (not its tasks).
func (w *Worker) StopConnector(ctx context.Context, name string) {
	w.mu.Lock()
	cr := w.connectors[name]
	delete(w.connectors, name)
	w.mu.Unlock()
	if cr == nil {
		return
	}
	if err := cr.conn.Stop(ctx); err != nil {
		w.log.Warn("connect: stop connector", "connector", name, "err", err)
	}
}

// RunningConnectors lists the connectors running here.
func (w *Worker) RunningConnectors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.connectors))
}

// RunningTasks lists the tasks running here.
func (w *Worker) RunningTasks() []TaskID {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := slices.Collect(maps.Keys(w.tasks))
	slices.SortFunc(ids, func(a, b TaskID) int {
		if c := strings.Compare(a.Connector, b.Connector); c != 0 {
			return c
		}
		return a.Task - b.Task
	})
	return ids
}

// StartTask starts a task goroutine. connCfg is the connector's
// configuration (converters, transforms, errors.*, topics), taskCfg the
// task's own.
func (w *Worker) StartTask(id TaskID, connCfg, taskCfg map[string]string, target TargetState) error {
	w.mu.Lock()
	if _, ok := w.tasks[id]; ok {
		w.mu.Unlock()
		return fmt.Errorf("task %s already running on this worker", id)
	}
	t := &taskRun{w: w, id: id, connCfg: connCfg, taskCfg: taskCfg, done: make(chan struct{}),
		resume: make(chan struct{})}
	t.paused = target == TargetPaused
	w.tasks[id] = t
	w.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go func() {
		defer close(t.done)
		err := t.run(ctx)
		switch {
		case err != nil && !errors.Is(err, context.Canceled):
			w.log.Error("connect: task failed", "connector", id.Connector, "task", id.Task, "err", err)
			w.status.TaskStatus(id, Status{State: StateFailed, Trace: err.Error(), WorkerID: w.ID()})
		default:
			w.status.TaskStatus(id, Status{State: StateUnassigned, WorkerID: w.ID()})
		}
	}()
	return nil
}

// StopTask stops a task and waits (at most task.shutdown.graceful.timeout.ms
// plus the offset flush timeout) for it to commit and exit. It reports
// whether the task had failed (so the caller can keep its FAILED status).
func (w *Worker) StopTask(id TaskID) {
	w.mu.Lock()
	t := w.tasks[id]
	delete(w.tasks, id)
	w.mu.Unlock()
	if t == nil {
		return
	}
	t.cancel()
	timer := time.NewTimer(w.cfg.ShutdownTimeout + w.cfg.OffsetFlushTimeout)
	defer timer.Stop()
	select {
	case <-t.done:
	case <-timer.C:
		w.log.Error("connect: task did not stop in time; abandoning it", "connector", id.Connector, "task", id.Task)
	}
}

// TaskFailed reports whether a running task has stopped with an error.
func (w *Worker) TaskDone(id TaskID) bool {
	w.mu.Lock()
	t := w.tasks[id]
	w.mu.Unlock()
	if t == nil {
		return true
	}
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// SetTaskTarget pauses or resumes a running task.
func (w *Worker) SetTaskTarget(id TaskID, target TargetState) {
	w.mu.Lock()
	t := w.tasks[id]
	w.mu.Unlock()
	if t != nil {
		t.setPaused(target == TargetPaused)
	}
}

// Close stops every task and connector.
func (w *Worker) Close(ctx context.Context) {
	var wg sync.WaitGroup
	for _, id := range w.RunningTasks() {
		wg.Add(1)
		go func() { defer wg.Done(); w.StopTask(id) }()
	}
	wg.Wait()
	for _, name := range w.RunningConnectors() {
		w.StopConnector(ctx, name)
	}
}

// clientOpts are the franz-go options for a task's client, with the
// worker's producer.*/consumer.* settings and the connector's
// producer.override.*/consumer.override.* ones.
func (w *Worker) clientOpts(connCfg map[string]string) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.BootstrapServers...)}
	get := func(kind, key string) string {
		if v, ok := connCfg[kind+".override."+key]; ok {
			return v
		}
		return w.cfg.Props[kind+"."+key]
	}
	if v := get("producer", "linger.ms"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			opts = append(opts, kgo.ProducerLinger(time.Duration(n)*time.Millisecond))
		}
	}
	switch get("producer", "compression.type") {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	}
	if v := get("consumer", "session.timeout.ms"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			opts = append(opts, kgo.SessionTimeout(time.Duration(n)*time.Millisecond))
		}
	}
	if v := get("consumer", "heartbeat.interval.ms"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			opts = append(opts, kgo.HeartbeatInterval(time.Duration(n)*time.Millisecond))
		}
	}
	if get("consumer", "auto.offset.reset") == "latest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	return opts
}
