package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// distConfig is what a distributed worker reads from WORKER.properties on
// top of WorkerConfig (Kafka's DistributedConfig names and defaults).
type distConfig struct {
	GroupID                                string
	ConfigTopic, OffsetTopic, StatusTopic  string
	ConfigRF, OffsetRF, StatusRF           int16
	OffsetPartitions, StatusPartitions     int32
	SessionTimeout, Heartbeat, RebalanceTO time.Duration
}

func parseDistConfig(props map[string]string) (distConfig, error) {
	c := distConfig{GroupID: props["group.id"], ConfigTopic: props["config.storage.topic"],
		OffsetTopic: props["offset.storage.topic"], StatusTopic: props["status.storage.topic"]}
	for k, v := range map[string]string{"group.id": c.GroupID, "config.storage.topic": c.ConfigTopic,
		"offset.storage.topic": c.OffsetTopic, "status.storage.topic": c.StatusTopic} {
		if v == "" {
			return c, fmt.Errorf("worker config %s is required in distributed mode", k)
		}
	}
	num := func(key string, def, min int64) (int64, error) {
		v := strings.TrimSpace(props[key])
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < min {
			return 0, fmt.Errorf("worker config %s: invalid value %q", key, v)
		}
		return n, nil
	}
	var errs []error
	rf := func(key string) int16 {
		n, err := num(key, 3, -1) // -1: the broker's default (KIP-464)
		if err == nil && n == 0 {
			err = fmt.Errorf("worker config %s: must be -1 or at least 1", key)
		}
		errs = append(errs, err)
		return int16(n)
	}
	parts := func(key string, def int64) int32 {
		n, err := num(key, def, 1)
		errs = append(errs, err)
		return int32(n)
	}
	ms := func(key string, def int64) time.Duration {
		n, err := num(key, def, 1)
		errs = append(errs, err)
		return time.Duration(n) * time.Millisecond
	}
	c.ConfigRF, c.OffsetRF, c.StatusRF = rf("config.storage.replication.factor"),
		rf("offset.storage.replication.factor"), rf("status.storage.replication.factor")
	c.OffsetPartitions = parts("offset.storage.partitions", 25)
	c.StatusPartitions = parts("status.storage.partitions", 5)
	c.SessionTimeout = ms("session.timeout.ms", 10000)
	c.Heartbeat = ms("heartbeat.interval.ms", 3000)
	c.RebalanceTO = ms("rebalance.timeout.ms", 60000)
	return c, errors.Join(errs...)
}

// Distributed is a worker of a Connect cluster (Kafka's DistributedHerder):
// the workers of group.id share connectors and tasks through a group of
// protocol type "connect" whose leader assigns them (eager protocol:
// everything is stopped before each rebalance). Connector configurations,
// source offsets and statuses live in three compacted topics that every
// worker reads, so the REST API answers on any worker; writes are
// forwarded to the leader.
//
// Goroutines (all started and joined by Run): one reader per internal
// topic (kafkaLog.run), the group member (member) and the herder loop
// (runLoop), which alone starts and stops connectors and tasks.
type Distributed struct {
	*Herder
	dc     distConfig
	url    string // this worker's REST URL
	cl     *kgo.Client
	adm    *kadm.Client
	config *kafkaLog
	status *kafkaLog
	store  *KafkaOffsetStore

	rejoin     chan struct{} // 1-buffered; asks the member loop to rejoin
	herderDone chan struct{} // closed when runLoop returns

	pending map[string]map[int]map[string]string // task configs awaiting commit-; config reader only

	mu sync.Mutex
	// The fields below are guarded by mu.
	memberID   string
	generation int32
	leaderID   string
	leaderURL  string
	assigned   bool
	conns      map[string]bool
	tasks      map[TaskID]bool
	shape      string           // leader: the cluster shape of its last assignment
	statusGen  map[string]int32 // status key → generation of the applied status
}

// NewDistributed builds a distributed worker; it starts nothing (call Run).
func NewDistributed(cfg WorkerConfig, plugins *Plugins, log *slog.Logger) (*Distributed, error) {
	if log == nil {
		log = slog.Default()
	}
	dc, err := parseDistConfig(cfg.Props)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ProducerLinger(0))
	if err != nil {
		return nil, fmt.Errorf("worker client: %w", err)
	}
	d := &Distributed{dc: dc, url: cfg.RestURL, cl: cl, adm: kadm.NewClient(cl),
		rejoin: make(chan struct{}, 1), herderDone: make(chan struct{}),
		pending: map[string]map[int]map[string]string{}, conns: map[string]bool{}, tasks: map[TaskID]bool{},
		statusGen: map[string]int32{}}
	fail := func(err error) (*Distributed, error) { cl.Close(); return nil, err }
	store := &KafkaOffsetStore{cl: cl, topic: dc.OffsetTopic}
	if store.log, err = newKafkaLog(cfg.BootstrapServers, dc.OffsetTopic, d.adm, store.apply, log); err != nil {
		return fail(err)
	}
	d.store = store
	if d.config, err = newKafkaLog(cfg.BootstrapServers, dc.ConfigTopic, d.adm, d.applyConfig, log); err != nil {
		store.log.cl.Close()
		return fail(err)
	}
	if d.status, err = newKafkaLog(cfg.BootstrapServers, dc.StatusTopic, d.adm, d.applyStatus, log); err != nil {
		store.log.cl.Close()
		d.config.cl.Close()
		return fail(err)
	}
	h := newHerder(nil, plugins, store, d.adm, log)
	h.w = NewWorker(cfg, plugins, store, h, log)
	h.be = d
	h.onStatus = d.writeStatus
	h.leader = d.leaderInfo
	d.Herder = h
	return d, nil
}

// Close releases the clients of a Distributed that will not Run (Run
// releases them itself).
func (d *Distributed) Close() {
	for _, l := range []*kafkaLog{d.store.log, d.config, d.status} {
		l.cl.Close()
	}
	d.cl.Close()
}

// Run joins the cluster and works until ctx ends; then it stops every task
// (committing offsets), leaves the group and closes its clients.
func (d *Distributed) Run(ctx context.Context) error {
	defer d.cl.Close()
	logs := []*kafkaLog{d.store.log, d.config, d.status}
	if err := d.ensureTopics(ctx); err != nil {
		for _, l := range logs {
			l.cl.Close()
		}
		return err
	}
	var wg sync.WaitGroup
	lctx, stopLogs := context.WithCancel(context.Background())
	for _, l := range logs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.run(lctx) }()
	}
	defer func() { stopLogs(); wg.Wait() }() // the readers outlive the tasks' last offset writes
	for _, l := range logs {
		if err := l.readToEnd(ctx); err != nil {
			return err
		}
	}
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); d.member(ctx) }()
	err := d.runLoop(ctx)
	close(d.herderDone)
	mwg.Wait()
	return err
}

// ensureTopics creates the three internal topics (compacted) if they are
// missing and checks that the config topic has one partition, as Kafka does.
func (d *Distributed) ensureTopics(ctx context.Context) error {
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, t := range []struct {
		name string
		n    int32
		rf   int16
	}{{d.dc.ConfigTopic, 1, d.dc.ConfigRF}, {d.dc.OffsetTopic, d.dc.OffsetPartitions, d.dc.OffsetRF},
		{d.dc.StatusTopic, d.dc.StatusPartitions, d.dc.StatusRF}} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := d.adm.CreateTopic(cctx, t.n, t.rf, compact, t.name)
		cancel()
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create internal topic %s: %w", t.name, err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := d.adm.ListTopics(cctx, d.dc.ConfigTopic)
	if err != nil {
		return fmt.Errorf("describe %s: %w", d.dc.ConfigTopic, err)
	}
	if n := len(td[d.dc.ConfigTopic].Partitions); n > 1 {
		return fmt.Errorf("topic %s (config.storage.topic) has %d partitions; it must have exactly one", d.dc.ConfigTopic, n)
	}
	return nil
}

// --- group membership -------------------------------------------------------

var errRejoin = errors.New("rejoin")

// member keeps this worker in the group: join, sync, heartbeat; before
// every rejoin it has the herder stop everything (eager protocol). When ctx
// ends it waits for the herder to stop its tasks, then leaves the group so
// the others take over at once.
func (d *Distributed) member(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		a, err := d.joinAndSync(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !errors.Is(err, errRejoin) {
				d.log.Warn("connect: join group", "group", d.dc.GroupID, "err", err)
				sleepCtx(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		d.install(ctx, a)
		d.heartbeat(ctx)
		d.mu.Lock()
		d.assigned = false
		d.leaderURL = ""
		d.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
		done := make(chan struct{})
		select {
		case d.revoke <- done:
			<-done
		case <-d.herderDone:
		}
	}
	<-d.herderDone
	d.mu.Lock()
	mid := d.memberID
	d.mu.Unlock()
	if mid != "" {
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = d.dc.GroupID
		req.MemberID = mid
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = mid
		req.Members = append(req.Members, m)
		_, _ = req.RequestWith(lctx, d.cl) // best effort: the session times out otherwise
		cancel()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// snapshotTasks returns each connector's task count (the cluster shape).
func (d *Distributed) snapshotTasks() map[string]int {
	d.Herder.mu.Lock()
	defer d.Herder.mu.Unlock()
	out := make(map[string]int, len(d.state.configs))
	for n := range d.state.configs {
		out[n] = 0
		if d.state.targets[n] != TargetStopped {
			out[n] = len(d.state.taskConfigs[n])
		}
	}
	return out
}

func (d *Distributed) joinAndSync(ctx context.Context) (assignment, error) {
	d.mu.Lock()
	mid := d.memberID
	d.mu.Unlock()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = d.dc.GroupID
	join.SessionTimeoutMillis = int32(d.dc.SessionTimeout.Milliseconds())
	join.RebalanceTimeoutMillis = int32(d.dc.RebalanceTO.Milliseconds())
	join.MemberID = mid
	join.ProtocolType = connectProtocolType
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = eagerProtocol
	p.Metadata = workerState{URL: d.url, ConfigOffset: d.config.position(0)}.appendTo(nil)
	join.Protocols = append(join.Protocols, p)
	jr, err := join.RequestWith(ctx, d.cl)
	if err != nil {
		return assignment{}, err
	}
	switch err := kerr.ErrorForCode(jr.ErrorCode); {
	case errors.Is(err, kerr.MemberIDRequired):
		d.setMember(jr.MemberID)
		return assignment{}, errRejoin
	case errors.Is(err, kerr.UnknownMemberID):
		d.setMember("")
		return assignment{}, errRejoin
	case errors.Is(err, kerr.RebalanceInProgress):
		return assignment{}, errRejoin
	case err != nil:
		return assignment{}, err
	}
	d.setMember(jr.MemberID)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = d.dc.GroupID
	sync.Generation = jr.Generation
	sync.MemberID = jr.MemberID
	sync.ProtocolType = kmsg.StringPtr(connectProtocolType)
	sync.Protocol = kmsg.StringPtr(eagerProtocol)
	if jr.LeaderID == jr.MemberID {
		sync.GroupAssignment = d.lead(ctx, jr)
	}
	sr, err := sync.RequestWith(ctx, d.cl)
	if err != nil {
		return assignment{}, err
	}
	switch err := kerr.ErrorForCode(sr.ErrorCode); {
	case errors.Is(err, kerr.UnknownMemberID):
		d.setMember("")
		return assignment{}, errRejoin
	case errors.Is(err, kerr.RebalanceInProgress), errors.Is(err, kerr.IllegalGeneration):
		return assignment{}, errRejoin
	case err != nil:
		return assignment{}, err
	}
	a, err := decodeAssignment(sr.MemberAssignment)
	if err != nil {
		return a, err
	}
	if a.Error == assignConfigMismatch {
		if err := d.config.readToEnd(ctx); err != nil {
			return a, err
		}
		return a, errRejoin
	}
	d.mu.Lock()
	d.generation = jr.Generation
	d.leaderID = jr.LeaderID
	d.mu.Unlock()
	return a, nil
}

func (d *Distributed) setMember(id string) {
	d.mu.Lock()
	d.memberID = id
	d.mu.Unlock()
}

// lead computes the group's assignment (this worker is the leader).
func (d *Distributed) lead(ctx context.Context, jr *kmsg.JoinGroupResponse) []kmsg.SyncGroupRequestGroupAssignment {
	states := map[string]workerState{}
	var maxOff int64
	for _, m := range jr.Members {
		ws, err := decodeWorkerState(m.ProtocolMetadata)
		if err != nil {
			d.log.Warn("connect: bad member metadata", "member", m.MemberID, "err", err)
			continue
		}
		states[m.MemberID] = ws
		maxOff = max(maxOff, ws.ConfigOffset)
	}
	var leaderURL string
	if ws, ok := states[jr.MemberID]; ok {
		leaderURL = ws.URL
	}
	errCode := int16(assignNoError)
	if d.config.position(0) < maxOff {
		if err := d.config.readToEnd(ctx); err != nil || d.config.position(0) < maxOff {
			errCode = assignConfigMismatch
		}
	}
	tasks := d.snapshotTasks()
	offset := d.config.position(0)
	members := make([]string, 0, len(states))
	for m := range states {
		members = append(members, m)
	}
	as := assignEager(members, tasks)
	d.mu.Lock()
	d.shape = shapeOf(tasks)
	d.mu.Unlock()
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(as))
	for m, a := range as {
		a.Error, a.Leader, a.LeaderURL, a.ConfigOffset = errCode, jr.MemberID, leaderURL, offset
		if errCode != assignNoError {
			a.Connectors, a.Tasks = nil, nil
		}
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID = m
		ga.MemberAssignment = a.appendTo(nil)
		out = append(out, ga)
	}
	return out
}

// install makes an assignment current and wakes the herder.
func (d *Distributed) install(ctx context.Context, a assignment) {
	if d.config.position(0) < a.ConfigOffset {
		if err := d.config.readToEnd(ctx); err != nil {
			d.log.Warn("connect: read configs", "err", err)
		}
	}
	d.mu.Lock()
	d.assigned = true
	d.leaderURL = a.LeaderURL
	d.conns = map[string]bool{}
	for _, c := range a.Connectors {
		d.conns[c] = true
	}
	d.tasks = map[TaskID]bool{}
	for _, t := range a.Tasks {
		d.tasks[t] = true
	}
	gen := d.generation
	d.mu.Unlock()
	d.log.Info("connect: joined group", "group", d.dc.GroupID, "generation", gen,
		"leader", a.LeaderURL, "connectors", a.Connectors, "tasks", len(a.Tasks))
	d.Kick()
}

// heartbeat returns when the worker must rejoin (a rebalance started, it
// was fenced, the leader saw the set of connectors and tasks change, or
// the coordinator was unreachable for a whole session) or ctx ends.
func (d *Distributed) heartbeat(ctx context.Context) {
	t := time.NewTicker(d.dc.Heartbeat)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.rejoin:
			return
		case <-t.C:
		}
		d.mu.Lock()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID = d.dc.GroupID, d.generation, d.memberID
		leader := d.leaderID == d.memberID
		shape := d.shape
		d.mu.Unlock()
		if leader && shapeOf(d.snapshotTasks()) != shape {
			return
		}
		hctx, cancel := context.WithTimeout(ctx, d.dc.SessionTimeout)
		resp, err := req.RequestWith(hctx, d.cl)
		cancel()
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.Is(err, kerr.RebalanceInProgress), errors.Is(err, kerr.IllegalGeneration):
			return
		case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.FencedInstanceID):
			d.setMember("")
			return
		default:
			if ctx.Err() != nil {
				return
			}
			if time.Since(lastOK) > d.dc.SessionTimeout {
				d.log.Warn("connect: heartbeat failing for a whole session; rejoining", "err", err)
				return
			}
		}
	}
}

// leaderInfo implements Herder.leader for the REST layer.
func (d *Distributed) leaderInfo() (string, bool, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.assigned || d.leaderURL == "" {
		return "", false, false
	}
	return d.leaderURL, d.leaderID == d.memberID, true
}

// --- backend: writes go to the config topic --------------------------------

// Config topic records (Kafka's KafkaConfigBackingStore):
//
//	connector-<name>          {"properties": {...}}            (null: deleted)
//	task-<name>-<n>           {"properties": {...}}
//	commit-<name>             {"tasks": N}  applies the task-<name>-* before it
//	target-state-<name>       {"state": "PAUSED", "state.v2": "STOPPED"}
//	restart-connector-<name>  {"include-tasks": bool, "only-failed": bool}
//	restart-task-<name>-<n>   {}  (Kavka's; Kafka forwards task restarts by REST)
type propsValue struct {
	Properties map[string]string `json:"properties"`
}

func (d *Distributed) writeConfig(ctx context.Context, recs ...*kgo.Record) error {
	for _, r := range recs {
		r.Topic = d.dc.ConfigTopic
		r.Partition = 0
	}
	if err := d.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", d.dc.ConfigTopic, err)
	}
	return d.config.readToEnd(ctx)
}

func jsonRecord(key string, v any) *kgo.Record {
	r := &kgo.Record{Key: []byte(key)}
	if v != nil {
		r.Value, _ = json.Marshal(v) // maps of strings and bools: cannot fail
	}
	return r
}

func (d *Distributed) putConfig(ctx context.Context, name string, cfg map[string]string) error {
	if cfg == nil {
		return d.writeConfig(ctx, jsonRecord("connector-"+name, nil), jsonRecord("target-state-"+name, nil))
	}
	return d.writeConfig(ctx, jsonRecord("connector-"+name, propsValue{cfg}))
}

func (d *Distributed) putTarget(ctx context.Context, name string, t TargetState) error {
	v1 := t
	if t == TargetStopped {
		v1 = TargetPaused // what readers without KIP-875 understand
	}
	return d.writeConfig(ctx, jsonRecord("target-state-"+name, map[string]string{"state": string(v1), "state.v2": string(t)}))
}

func (d *Distributed) putTaskConfigs(ctx context.Context, name string, tcs []map[string]string) error {
	recs := make([]*kgo.Record, 0, len(tcs)+1)
	for i, tc := range tcs {
		recs = append(recs, jsonRecord(fmt.Sprintf("task-%s-%d", name, i), propsValue{tc}))
	}
	recs = append(recs, jsonRecord("commit-"+name, map[string]int{"tasks": len(tcs)}))
	return d.writeConfig(ctx, recs...)
}

func (d *Distributed) requestRestart(ctx context.Context, name string, includeTasks, onlyFailed bool) error {
	if conn, task, ok := strings.Cut(name, "\x00"); ok {
		return d.writeConfig(ctx, jsonRecord("restart-task-"+conn+"-"+task, map[string]any{}))
	}
	return d.writeConfig(ctx, jsonRecord("restart-connector-"+name,
		map[string]bool{"include-tasks": includeTasks, "only-failed": onlyFailed}))
}

func (d *Distributed) ownsConnector(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns[name]
}

func (d *Distributed) ownsTask(id TaskID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tasks[id]
}

func (d *Distributed) ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.assigned
}

// splitTaskKey parses "<name>-<n>" (the name may contain dashes).
func splitTaskKey(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return s[:i], n, true
}

// applyConfig replays one config topic record into the cluster state. It
// runs on the config reader's goroutine; malformed records are logged and
// skipped (the topic is input, not an invariant).
func (d *Distributed) applyConfig(r *kgo.Record) {
	key := string(r.Key)
	bad := func(err error) { d.log.Warn("connect: skip config record", "key", key, "err", err) }
	h := d.Herder
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		if r.Value == nil {
			h.mu.Lock()
			delete(h.state.configs, name)
			delete(h.state.targets, name)
			delete(h.state.taskConfigs, name)
			delete(h.statuses, name)
			for id := range h.tstatuses {
				if id.Connector == name {
					delete(h.tstatuses, id)
				}
			}
			h.mu.Unlock()
			delete(d.pending, name)
			break
		}
		var v propsValue
		if err := json.Unmarshal(r.Value, &v); err != nil || v.Properties == nil {
			bad(fmt.Errorf("not {\"properties\":{…}}: %v", err))
			return
		}
		h.mu.Lock()
		h.state.configs[name] = v.Properties
		if _, ok := h.state.targets[name]; !ok {
			h.state.targets[name] = TargetStarted
		}
		h.mu.Unlock()
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		if r.Value == nil {
			break
		}
		var v map[string]string
		if err := json.Unmarshal(r.Value, &v); err != nil {
			bad(err)
			return
		}
		t := TargetState(v["state.v2"])
		if t == "" {
			t = TargetState(v["state"])
		}
		if t != TargetStarted && t != TargetPaused && t != TargetStopped {
			bad(fmt.Errorf("unknown target state %q", t))
			return
		}
		h.mu.Lock()
		h.state.targets[name] = t
		h.mu.Unlock()
	case strings.HasPrefix(key, "task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "task-"))
		var v propsValue
		if !ok || r.Value == nil || json.Unmarshal(r.Value, &v) != nil {
			bad(errors.New("malformed task record"))
			return
		}
		if d.pending[name] == nil {
			d.pending[name] = map[int]map[string]string{}
		}
		d.pending[name][n] = v.Properties
	case strings.HasPrefix(key, "commit-"):
		name := strings.TrimPrefix(key, "commit-")
		var v struct {
			Tasks int `json:"tasks"`
		}
		if r.Value == nil || json.Unmarshal(r.Value, &v) != nil || v.Tasks < 0 {
			bad(errors.New("malformed commit record"))
			return
		}
		tcs := make([]map[string]string, v.Tasks)
		for i := range tcs {
			tc, ok := d.pending[name][i]
			if !ok {
				// Compaction may have dropped task records superseded by a
				// later generation; keep the previous configs (Kafka marks
				// the connector inconsistent and waits for a rewrite).
				h.mu.Lock()
				prev := h.state.taskConfigs[name]
				h.mu.Unlock()
				if i < len(prev) {
					tc = prev[i]
				} else {
					bad(fmt.Errorf("task %d missing before commit", i))
					return
				}
			}
			tcs[i] = tc
		}
		delete(d.pending, name)
		h.mu.Lock()
		if v.Tasks == 0 {
			delete(h.state.taskConfigs, name)
		} else {
			h.state.taskConfigs[name] = tcs
		}
		for id := range h.tstatuses {
			if id.Connector == name && id.Task >= v.Tasks {
				delete(h.tstatuses, id)
			}
		}
		h.mu.Unlock()
	case strings.HasPrefix(key, "restart-connector-"):
		name := strings.TrimPrefix(key, "restart-connector-")
		var v map[string]bool
		if r.Value == nil || json.Unmarshal(r.Value, &v) != nil {
			return
		}
		h.mu.Lock()
		h.applyRestartLocked(name, restartReq{includeTasks: v["include-tasks"], onlyFailed: v["only-failed"]})
		h.mu.Unlock()
	case strings.HasPrefix(key, "restart-task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "restart-task-"))
		if !ok || r.Value == nil {
			return
		}
		h.mu.Lock()
		h.applyRestartLocked(name+"\x00"+strconv.Itoa(n), restartReq{})
		h.mu.Unlock()
	default:
		return // session keys and other records we do not use
	}
	d.Kick()
}

// --- statuses -----------------------------------------------------------------

// Status topic records (Kafka's KafkaStatusBackingStore):
//
//	status-connector-<name>   {"state": …, "trace": …, "worker_id": …, "generation": N}
//	status-task-<name>-<n>
type statusValue struct {
	State      State   `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int32   `json:"generation"`
}

// writeStatus publishes a status change (asynchronously: statuses are
// advisory, and a lost one is rewritten by the next change).
func (d *Distributed) writeStatus(conn string, id *TaskID, st Status) {
	key := "status-connector-" + conn
	if id != nil {
		key = fmt.Sprintf("status-task-%s-%d", conn, id.Task)
	}
	d.mu.Lock()
	gen := d.generation
	d.statusGen[key] = max(d.statusGen[key], gen)
	d.mu.Unlock()
	v := statusValue{State: st.State, WorkerID: st.WorkerID, Generation: gen}
	if st.Trace != "" {
		v.Trace = &st.Trace
	}
	r := jsonRecord(key, v)
	r.Topic = d.dc.StatusTopic
	d.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			d.log.Warn("connect: write status", "key", key, "err", err)
		}
	})
}

// applyStatus replays a status record; one from an older generation does
// not overwrite a newer one written by another worker.
func (d *Distributed) applyStatus(r *kgo.Record) {
	key := string(r.Key)
	var v statusValue
	if r.Value != nil && json.Unmarshal(r.Value, &v) != nil {
		return
	}
	var id *TaskID
	var conn string
	switch {
	case strings.HasPrefix(key, "status-connector-"):
		conn = strings.TrimPrefix(key, "status-connector-")
	case strings.HasPrefix(key, "status-task-"):
		name, n, ok := splitTaskKey(strings.TrimPrefix(key, "status-task-"))
		if !ok {
			return
		}
		conn, id = name, &TaskID{name, n}
	default:
		return
	}
	h := d.Herder
	d.mu.Lock()
	if r.Value != nil && v.Generation < d.statusGen[key] && v.WorkerID != h.w.ID() {
		d.mu.Unlock()
		return
	}
	d.statusGen[key] = max(d.statusGen[key], v.Generation)
	d.mu.Unlock()
	st := Status{State: v.State, WorkerID: v.WorkerID}
	if v.Trace != nil {
		st.Trace = *v.Trace
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case r.Value == nil && id == nil:
		delete(h.statuses, conn)
	case r.Value == nil:
		delete(h.tstatuses, *id)
	case id == nil:
		h.statuses[conn] = st
	default:
		h.tstatuses[*id] = st
	}
}

// --- offsets ------------------------------------------------------------------

// KafkaOffsetStore keeps source offsets in offset.storage.topic (Kafka's
// KafkaOffsetBackingStore): key ["connector",{partition}], value the offset
// as JSON, null to delete. Reads first catch up with the topic, so a task
// that moved to this worker resumes where its last owner committed.
type KafkaOffsetStore struct {
	cl    *kgo.Client
	topic string
	log   *kafkaLog
	mem   memOffsets
}

func (s *KafkaOffsetStore) apply(r *kgo.Record) {
	s.mem.mu.Lock()
	s.mem.applyLocked(string(r.Key), r.Value)
	s.mem.mu.Unlock()
}

// Get implements OffsetStore.
func (s *KafkaOffsetStore) Get(ctx context.Context, connector string, partition map[string]any) (map[string]any, error) {
	if err := s.log.readToEnd(ctx); err != nil {
		return nil, err
	}
	return s.mem.get(connector, partition)
}

// All implements OffsetStore.
func (s *KafkaOffsetStore) All(ctx context.Context, connector string) ([]SourceOffset, error) {
	if err := s.log.readToEnd(ctx); err != nil {
		return nil, err
	}
	return s.mem.all(connector), nil
}

// Put implements OffsetStore: it returns once the brokers acknowledged every
// record (acks=all).
func (s *KafkaOffsetStore) Put(ctx context.Context, connector string, offsets []SourceOffset) error {
	recs := make([]*kgo.Record, 0, len(offsets))
	for _, o := range offsets {
		k, err := offsetKey(connector, o.Partition)
		if err != nil {
			return err
		}
		r := &kgo.Record{Topic: s.topic, Key: []byte(k)}
		if o.Offset != nil {
			if r.Value, err = json.Marshal(o.Offset); err != nil {
				return fmt.Errorf("encode offset: %w", err)
			}
		}
		recs = append(recs, r)
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write offsets: %w", err)
	}
	return nil
}
