package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/connect"
)

// Errors the REST API maps to status codes.
var (
	ErrNotFound   = errors.New("not found")             // 404
	ErrConflict   = errors.New("conflict")              // 409
	ErrBadRequest = errors.New("bad request")           // 400
	ErrNotLeader  = errors.New("rebalance in progress") // 409
)

// ConnectorInfo is the body of GET /connectors/{name}.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   string            `json:"type"`
}

// TaskState is one task in a status response.
type TaskState struct {
	ID       int    `json:"id"`
	State    State  `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// ConnectorState is the body of GET /connectors/{name}/status.
type ConnectorState struct {
	Name      string      `json:"name"`
	Connector Status      `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
	Type      string      `json:"type"`
}

// TaskInfo is one entry of GET /connectors/{name}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// clusterState is the replicated configuration: what runs, with which
// configuration, in which target state. The standalone herder changes it
// directly; the distributed one by replaying the config topic.
type clusterState struct {
	configs     map[string]map[string]string
	targets     map[string]TargetState
	taskConfigs map[string][]map[string]string
}

func newClusterState() *clusterState {
	return &clusterState{configs: map[string]map[string]string{}, targets: map[string]TargetState{},
		taskConfigs: map[string][]map[string]string{}}
}

// backend is what differs between standalone and distributed mode: where
// writes go and which connectors and tasks this worker owns.
type backend interface {
	putConfig(ctx context.Context, name string, cfg map[string]string) error // nil deletes
	putTarget(ctx context.Context, name string, t TargetState) error
	putTaskConfigs(ctx context.Context, name string, tcs []map[string]string) error
	requestRestart(ctx context.Context, name string, includeTasks, onlyFailed bool) error
	ownsConnector(name string) bool
	ownsTask(id TaskID) bool
	// ready reports whether the worker may act (distributed: a member of a
	// stable group).
	ready() bool
}

// Herder drives a Worker from the cluster state: it starts and stops
// connectors and tasks so that this worker runs exactly what it owns. All
// reconciliation happens on the goroutine of Run; REST calls only change the
// state (through the backend) and kick it.
type Herder struct {
	w       *Worker
	plugins *Plugins
	offsets OffsetStore
	admin   *kadm.Client
	be      backend
	log     *slog.Logger
	kick    chan struct{}
	// revoke asks the Run goroutine to stop everything this worker runs
	// and close the given channel when done (distributed mode, before the
	// worker rejoins its group: eager rebalancing).
	revoke chan chan struct{}
	// leader reports where writes go (distributed mode; nil in standalone):
	// the leader's REST URL, whether this worker is the leader, and whether
	// a leader is known at all.
	leader func() (url string, self, known bool)

	mu sync.Mutex
	// The fields below are guarded by mu.
	state     *clusterState
	statuses  map[string]Status // connector name → status
	tstatuses map[TaskID]Status
	restarts  map[string]restartReq
	// Owned by the Run goroutine (read under mu for status):
	runningCfg   map[string]map[string]string  // connector → config it runs with
	failedConn   map[string]map[string]string  // connector → config it failed with
	runningTasks map[TaskID]map[string]string  // task → task config
	onStatus     func(string, *TaskID, Status) // distributed: persist statuses
}

type restartReq struct{ includeTasks, onlyFailed bool }

func newHerder(w *Worker, plugins *Plugins, offsets OffsetStore, admin *kadm.Client, log *slog.Logger) *Herder {
	return &Herder{w: w, plugins: plugins, offsets: offsets, admin: admin, log: log,
		kick: make(chan struct{}, 1), revoke: make(chan chan struct{}), state: newClusterState(),
		statuses: map[string]Status{}, tstatuses: map[TaskID]Status{}, restarts: map[string]restartReq{},
		runningCfg: map[string]map[string]string{}, failedConn: map[string]map[string]string{},
		runningTasks: map[TaskID]map[string]string{}}
}

// Kick asks the Run goroutine to reconcile. It never blocks.
func (h *Herder) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// ConnectorStatus implements StatusListener.
func (h *Herder) ConnectorStatus(name string, st Status) {
	h.mu.Lock()
	h.statuses[name] = st
	f := h.onStatus
	h.mu.Unlock()
	if f != nil {
		f(name, nil, st)
	}
}

// TaskStatus implements StatusListener.
func (h *Herder) TaskStatus(id TaskID, st Status) {
	h.mu.Lock()
	h.tstatuses[id] = st
	f := h.onStatus
	h.mu.Unlock()
	if f != nil {
		f(id.Connector, &id, st)
	}
}

// runLoop reconciles on every kick and every second until ctx ends, then
// stops everything this worker runs.
func (h *Herder) runLoop(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		h.reconcile(ctx)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), h.w.cfg.ShutdownTimeout+h.w.cfg.OffsetFlushTimeout)
			h.stopAll(sctx)
			cancel()
			return nil
		case <-h.kick:
		case done := <-h.revoke:
			sctx, cancel := context.WithTimeout(ctx, h.w.cfg.ShutdownTimeout+h.w.cfg.OffsetFlushTimeout)
			h.stopAll(sctx)
			cancel()
			close(done)
		case <-t.C:
		}
	}
}

// stopAll stops every connector and task on this worker.
func (h *Herder) stopAll(ctx context.Context) {
	h.w.Close(ctx)
	h.mu.Lock()
	clear(h.runningCfg)
	clear(h.runningTasks)
	h.mu.Unlock()
}

// reconcile makes the worker run what the state says it owns.
func (h *Herder) reconcile(ctx context.Context) {
	if !h.be.ready() {
		return
	}
	h.mu.Lock()
	configs := maps.Clone(h.state.configs)
	targets := maps.Clone(h.state.targets)
	taskConfigs := maps.Clone(h.state.taskConfigs)
	restarts := h.restarts
	h.restarts = map[string]restartReq{}
	h.mu.Unlock()

	// Restarts first: stop what must restart; the passes below start it again.
	for name, rr := range restarts {
		if conn, ts, ok := strings.Cut(name, "\x00"); ok {
			n, _ := strconv.Atoi(ts)
			id := TaskID{conn, n}
			h.mu.Lock()
			_, running := h.runningTasks[id]
			h.mu.Unlock()
			if running {
				h.w.StopTask(id)
				h.mu.Lock()
				delete(h.runningTasks, id)
				h.mu.Unlock()
			}
			continue
		}
		h.mu.Lock()
		cst := h.statuses[name]
		h.mu.Unlock()
		if h.be.ownsConnector(name) && (!rr.onlyFailed || cst.State == StateFailed) {
			h.w.StopConnector(ctx, name)
			h.mu.Lock()
			delete(h.runningCfg, name)
			delete(h.failedConn, name)
			h.mu.Unlock()
		}
		if rr.includeTasks {
			for i := range taskConfigs[name] {
				id := TaskID{name, i}
				h.mu.Lock()
				tst := h.tstatuses[id]
				_, running := h.runningTasks[id]
				h.mu.Unlock()
				if running && (!rr.onlyFailed || tst.State == StateFailed) {
					h.w.StopTask(id)
					h.mu.Lock()
					delete(h.runningTasks, id)
					h.mu.Unlock()
				}
			}
		}
	}

	// Connectors.
	for _, name := range h.w.RunningConnectors() {
		cfg, ok := configs[name]
		if !ok || !h.be.ownsConnector(name) || targets[name] == TargetStopped || !maps.Equal(cfg, h.runningCfg[name]) {
			h.w.StopConnector(ctx, name)
			h.mu.Lock()
			delete(h.runningCfg, name)
			h.mu.Unlock()
		}
	}
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		cfg := configs[name]
		if !h.be.ownsConnector(name) {
			continue
		}
		if targets[name] == TargetStopped {
			h.mu.Lock()
			cur := h.statuses[name]
			h.mu.Unlock()
			if cur.State != StateStopped || cur.WorkerID != h.w.ID() {
				h.ConnectorStatus(name, Status{State: StateStopped, WorkerID: h.w.ID()})
			}
			if len(taskConfigs[name]) > 0 {
				if err := h.be.putTaskConfigs(ctx, name, nil); err != nil {
					h.log.Warn("connect: clear task configs", "connector", name, "err", err)
				}
			}
			continue
		}
		h.mu.Lock()
		_, running := h.runningCfg[name]
		failedCfg, failed := h.failedConn[name]
		h.mu.Unlock()
		if failed && maps.Equal(failedCfg, cfg) {
			continue
		}
		if !running {
			if err := h.w.StartConnector(ctx, name, cfg); err != nil {
				h.mu.Lock()
				h.failedConn[name] = cfg
				h.mu.Unlock()
				continue
			}
			h.mu.Lock()
			h.runningCfg[name] = cfg
			delete(h.failedConn, name)
			h.mu.Unlock()
			tcs, err := h.w.ConnectorTaskConfigs(name)
			if err != nil {
				h.ConnectorStatus(name, Status{State: StateFailed, Trace: err.Error(), WorkerID: h.w.ID()})
				continue
			}
			if !equalTaskConfigs(tcs, taskConfigs[name]) {
				if err := h.be.putTaskConfigs(ctx, name, tcs); err != nil {
					h.log.Warn("connect: write task configs", "connector", name, "err", err)
				}
			}
		}
		st := StateRunning
		if targets[name] == TargetPaused {
			st = StatePaused
		}
		h.mu.Lock()
		cur := h.statuses[name]
		h.mu.Unlock()
		if cur.State != st || cur.WorkerID != h.w.ID() {
			h.ConnectorStatus(name, Status{State: st, WorkerID: h.w.ID()})
		}
	}

	// Tasks.
	h.mu.Lock()
	taskConfigs = maps.Clone(h.state.taskConfigs) // may have changed above (standalone)
	h.mu.Unlock()
	want := map[TaskID]map[string]string{}
	for name, tcs := range taskConfigs {
		cfg, ok := configs[name]
		if !ok || targets[name] == TargetStopped {
			continue
		}
		for i, tc := range tcs {
			id := TaskID{name, i}
			if h.be.ownsTask(id) {
				want[id] = mergeConfig(cfg, tc)
			}
		}
	}
	for _, id := range h.w.RunningTasks() {
		h.mu.Lock()
		cur := h.runningTasks[id]
		h.mu.Unlock()
		if w, ok := want[id]; !ok || !maps.Equal(w, cur) {
			h.w.StopTask(id)
			h.mu.Lock()
			delete(h.runningTasks, id)
			h.mu.Unlock()
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(want), func(a, b TaskID) int {
		if a.Connector != b.Connector {
			if a.Connector < b.Connector {
				return -1
			}
			return 1
		}
		return a.Task - b.Task
	}) {
		target := targets[id.Connector]
		h.mu.Lock()
		_, running := h.runningTasks[id]
		h.mu.Unlock()
		if running {
			h.w.SetTaskTarget(id, target)
			continue
		}
		cfg := configs[id.Connector]
		tc := taskConfigs[id.Connector][id.Task]
		if err := h.w.StartTask(id, cfg, tc, target); err != nil {
			h.log.Warn("connect: start task", "task", id.String(), "err", err)
			continue
		}
		h.mu.Lock()
		h.runningTasks[id] = want[id]
		h.mu.Unlock()
	}
}

func mergeConfig(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range b {
		m["task:"+k] = v
	}
	return m
}

func equalTaskConfigs(a, b []map[string]string) bool {
	return slices.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

// --- the API the REST layer calls ---------------------------------------

// Plugins returns the plugin registry.
func (h *Herder) Plugins() *Plugins { return h.plugins }

// WorkerID returns this worker's id.
func (h *Herder) WorkerID() string { return h.w.ID() }

// Connectors lists connector names.
func (h *Herder) Connectors(context.Context) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, slices.Sorted(maps.Keys(h.state.configs))...)
}

func (h *Herder) connectorType(cfg map[string]string) string {
	pl, err := h.plugins.Lookup(cfg["connector.class"])
	if err != nil {
		return "unknown"
	}
	return pl.Type()
}

// Info returns a connector's configuration and tasks.
func (h *Herder) Info(_ context.Context, name string) (ConnectorInfo, error) {
	h.mu.Lock()
	cfg, ok := h.state.configs[name]
	n := len(h.state.taskConfigs[name])
	h.mu.Unlock()
	if !ok {
		return ConnectorInfo{}, fmt.Errorf("%w: Connector %s not found", ErrNotFound, name)
	}
	info := ConnectorInfo{Name: name, Config: cfg, Tasks: []TaskID{}, Type: h.connectorType(cfg)}
	for i := range n {
		info.Tasks = append(info.Tasks, TaskID{name, i})
	}
	return info, nil
}

// Validate checks a connector configuration as PUT
// /connector-plugins/{plugin}/config/validate does.
func (h *Herder) Validate(_ context.Context, cfg map[string]string) (ConfigInfos, error) {
	pl, err := h.plugins.Lookup(cfg["connector.class"])
	if err != nil {
		return ConfigInfos{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return validateConfig(pl, cfg), nil
}

// PutConfig creates or updates a connector. created reports whether it is
// new. With allowReplace=false an existing connector is a conflict.
func (h *Herder) PutConfig(ctx context.Context, name string, cfg map[string]string, allowReplace bool) (info ConnectorInfo, created bool, err error) {
	if name == "" {
		return info, false, fmt.Errorf("%w: connector name is required", ErrBadRequest)
	}
	cfg = maps.Clone(cfg)
	cfg["name"] = name
	pl, err := h.plugins.Lookup(cfg["connector.class"])
	if err != nil {
		return info, false, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if vi := validateConfig(pl, cfg); vi.ErrorCount > 0 {
		return info, false, fmt.Errorf("%w: Connector configuration is invalid and contains the following %d error(s):\n%s", ErrBadRequest, vi.ErrorCount, vi.messages())
	}
	h.mu.Lock()
	_, exists := h.state.configs[name]
	h.mu.Unlock()
	if exists && !allowReplace {
		return info, false, fmt.Errorf("%w: Connector %s already exists", ErrConflict, name)
	}
	if err := h.be.putConfig(ctx, name, cfg); err != nil {
		return info, false, err
	}
	h.Kick()
	info, err = h.Info(ctx, name)
	return info, !exists, err
}

// Delete removes a connector.
func (h *Herder) Delete(ctx context.Context, name string) error {
	if _, err := h.Info(ctx, name); err != nil {
		return err
	}
	if err := h.be.putConfig(ctx, name, nil); err != nil {
		return err
	}
	h.Kick()
	return nil
}

// Status returns a connector's status.
func (h *Herder) Status(ctx context.Context, name string) (ConnectorState, error) {
	info, err := h.Info(ctx, name)
	if err != nil {
		return ConnectorState{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := ConnectorState{Name: name, Type: info.Type, Tasks: []TaskState{}}
	cs.Connector = h.statuses[name]
	if cs.Connector.State == "" {
		cs.Connector.State = StateUnassigned
	}
	for _, id := range info.Tasks {
		st := h.tstatuses[id]
		if st.State == "" {
			st.State = StateUnassigned
		}
		cs.Tasks = append(cs.Tasks, TaskState{ID: id.Task, State: st.State, WorkerID: st.WorkerID, Trace: st.Trace})
	}
	return cs, nil
}

// Tasks returns a connector's task configurations.
func (h *Herder) Tasks(ctx context.Context, name string) ([]TaskInfo, error) {
	if _, err := h.Info(ctx, name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []TaskInfo{}
	for i, tc := range h.state.taskConfigs[name] {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: tc})
	}
	return out, nil
}

// Restart restarts a connector and, with includeTasks, its tasks (only the
// failed ones with onlyFailed, KIP-745). It returns the status with the
// instances to restart marked RESTARTING.
func (h *Herder) Restart(ctx context.Context, name string, includeTasks, onlyFailed bool) (ConnectorState, error) {
	cs, err := h.Status(ctx, name)
	if err != nil {
		return cs, err
	}
	if !onlyFailed || cs.Connector.State == StateFailed {
		cs.Connector.State = StateRestarting
	}
	if includeTasks {
		for i := range cs.Tasks {
			if !onlyFailed || cs.Tasks[i].State == StateFailed {
				cs.Tasks[i].State = StateRestarting
			}
		}
	}
	if err := h.be.requestRestart(ctx, name, includeTasks, onlyFailed); err != nil {
		return cs, err
	}
	h.Kick()
	return cs, nil
}

// RestartTask restarts one task.
func (h *Herder) RestartTask(ctx context.Context, id TaskID) error {
	info, err := h.Info(ctx, id.Connector)
	if err != nil {
		return err
	}
	if id.Task < 0 || id.Task >= len(info.Tasks) {
		return fmt.Errorf("%w: Task %s not found", ErrNotFound, id)
	}
	return h.be.requestRestart(ctx, id.Connector+"\x00"+strconv.Itoa(id.Task), false, false)
}

// SetTarget pauses, resumes or stops a connector.
func (h *Herder) SetTarget(ctx context.Context, name string, t TargetState) error {
	if _, err := h.Info(ctx, name); err != nil {
		return err
	}
	if err := h.be.putTarget(ctx, name, t); err != nil {
		return err
	}
	h.Kick()
	return nil
}

// applyRestartLocked records a restart request for reconcile. h.mu must be
// held. A task restart is encoded as "connector\x00task".
func (h *Herder) applyRestartLocked(key string, rr restartReq) {
	h.restarts[key] = rr
}

// --- offsets (KIP-875) ----------------------------------------------------

// OffsetsBody is the JSON of GET/PATCH /connectors/{name}/offsets.
type OffsetsBody struct {
	Offsets []SourceOffset `json:"offsets"`
}

// Offsets returns a connector's offsets: source partitions and offsets for
// source connectors, consumer group positions for sink connectors.
func (h *Herder) Offsets(ctx context.Context, name string) (OffsetsBody, error) {
	info, err := h.Info(ctx, name)
	if err != nil {
		return OffsetsBody{}, err
	}
	out := OffsetsBody{Offsets: []SourceOffset{}}
	if info.Type == "sink" {
		resp, err := h.admin.FetchOffsets(ctx, SinkGroup(name))
		if err != nil {
			return out, fmt.Errorf("fetch sink offsets: %w", err)
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 {
				out.Offsets = append(out.Offsets, SourceOffset{
					Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition},
					Offset:    map[string]any{"kafka_offset": o.At}})
			}
		})
		slices.SortFunc(out.Offsets, func(a, b SourceOffset) int {
			return int(a.Partition["kafka_partition"].(int32) - b.Partition["kafka_partition"].(int32))
		})
		return out, nil
	}
	offs, err := h.offsets.All(ctx, name)
	if err != nil {
		return out, err
	}
	out.Offsets = append(out.Offsets, offs...)
	return out, nil
}

func (h *Herder) requireStopped(name string) error {
	h.mu.Lock()
	t := h.state.targets[name]
	h.mu.Unlock()
	if t != TargetStopped {
		return fmt.Errorf("%w: Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", ErrBadRequest, name)
	}
	return nil
}

// AlterOffsets overwrites offsets of a stopped connector. A null offset
// removes a partition's offset.
func (h *Herder) AlterOffsets(ctx context.Context, name string, body OffsetsBody) error {
	info, err := h.Info(ctx, name)
	if err != nil {
		return err
	}
	if err := h.requireStopped(name); err != nil {
		return err
	}
	if len(body.Offsets) == 0 {
		return fmt.Errorf("%w: The offsets to be altered may not be null or empty", ErrBadRequest)
	}
	if info.Type != "sink" {
		return h.offsets.Put(ctx, name, body.Offsets)
	}
	commit := kadm.Offsets{}
	del := map[string][]int32{}
	for _, o := range body.Offsets {
		topic, _ := o.Partition["kafka_topic"].(string)
		p, ok := number(o.Partition["kafka_partition"])
		if topic == "" || !ok {
			return fmt.Errorf("%w: sink connector offsets need kafka_topic and kafka_partition", ErrBadRequest)
		}
		if o.Offset == nil {
			del[topic] = append(del[topic], int32(p))
			continue
		}
		off, ok := number(o.Offset["kafka_offset"])
		if !ok || off < 0 {
			return fmt.Errorf("%w: sink connector offsets need a non-negative kafka_offset", ErrBadRequest)
		}
		commit.Add(kadm.Offset{Topic: topic, Partition: int32(p), At: off, LeaderEpoch: -1})
	}
	if len(commit) > 0 {
		resp, err := h.admin.CommitOffsets(ctx, SinkGroup(name), commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("alter sink offsets: %w", err)
		}
	}
	if len(del) > 0 {
		ts := kadm.TopicsSet{}
		for t, ps := range del {
			ts.Add(t, ps...)
		}
		if _, err := h.admin.DeleteOffsets(ctx, SinkGroup(name), ts); err != nil {
			return fmt.Errorf("delete sink offsets: %w", err)
		}
	}
	return nil
}

// ResetOffsets removes every offset of a stopped connector.
func (h *Herder) ResetOffsets(ctx context.Context, name string) error {
	info, err := h.Info(ctx, name)
	if err != nil {
		return err
	}
	if err := h.requireStopped(name); err != nil {
		return err
	}
	if info.Type == "sink" {
		_, err := h.admin.DeleteGroup(ctx, SinkGroup(name))
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("reset sink offsets: %w", err)
		}
		return nil
	}
	offs, err := h.offsets.All(ctx, name)
	if err != nil {
		return err
	}
	for i := range offs {
		offs[i].Offset = nil
	}
	return h.offsets.Put(ctx, name, offs)
}

func number(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), x == float64(int64(x))
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}

// newAdmin returns an admin client for the worker's cluster.
func newAdmin(cfg WorkerConfig) (*kgo.Client, *kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...))
	if err != nil {
		return nil, nil, fmt.Errorf("admin client: %w", err)
	}
	return cl, kadm.NewClient(cl), nil
}

var _ = connect.SplitList

// ClusterID returns the Kafka cluster id (GET /).
func (h *Herder) ClusterID(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := h.admin.BrokerMetadata(ctx)
	if err != nil {
		return ""
	}
	return m.Cluster
}
