package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/metadata/adapt"
	"github.com/kavka-io/kavka/internal/raft"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/vfs"
)

const (
	dataDir = "/data"
	metaDir = "/data/__cluster_metadata-0"
	raftDir = metaDir + "/raft"
)

var quiet = slog.New(slog.DiscardHandler)

// node is one simulated process: a controller and broker (a raft voter) or
// a broker only (a raft learner). Its disk and clock survive crashes; the
// incarnation (everything in memory) does not.
type node struct {
	id       int32
	voter    bool
	fs       *vfs.MemFS
	clk      *clock.Fake
	skew     time.Duration // added to the simulated time by clock jumps
	up       bool
	life     int // incarnation number, bumped by every start and crash
	paused   bool
	pauseEnd time.Duration
	held     []*task // tasks woken while paused
	inc      *incarnation
	next     int // the voter a broker without a known leader asks next

	// diskFault: the log directory fails until the fault is lifted; the
	// metadata log is not affected. With diskReads the reads of the
	// segment files fail (EIO) while writes work, as on a disk with
	// unreadable sectors (chaos F13d); otherwise writes, fsyncs and creates
	// fail with diskErr (ENOSPC or EIO).
	diskFault bool
	diskReads bool
	diskErr   error
	diskGen   int
	// awaiting: the last start failed to load the logs on the failed disk;
	// the node stays down and probes until it may load them again
	// (awaitLogDir).
	awaiting bool
}

// tp names a partition.
type tp struct {
	topic string
	part  int32
}

// incarnation is a node's in-memory state between a start and a crash:
// the production objects and the glue's own state.
type incarnation struct {
	n          *node
	meta       *metadata.Store
	raft       *raft.Stepper
	rm         *replica.Manager
	logs       map[tp]*commitlog.Log
	tasks      map[uint64]*task
	dirty      bool  // raft has work: run Ready
	epoch      int64 // broker epoch, 0 until registered (server: quorumNode.epoch)
	live       bool  // the image holds the current registration, unfenced
	registered bool  // the image holds the current registration
	storeQ     []*task
	store      *task // the Store task running (it may hold Store.mu while parked)
	hwWait     map[tp][]hwWaiter
	lastHW     map[tp]int64 // per partition: the HW last seen, for monotonicity
	lastIm     *metadata.Image

	// stopping: a controlled shutdown began; the broker loop ends (server:
	// Run's context cancelled, then quorumNode.shutdown).
	stopping bool

	// The log directory (server: logDirState): fs is the node's disk seen
	// through the fault injector, used by the partition logs; dirOffline is
	// set by the first log that goes offline; reads are the failed reads of
	// segments the probe repeats; hbSleep is the broker loop's sleep, cut
	// short to report it at once. loading: the logs are being loaded, no
	// loop runs yet.
	fs         vfs.FS
	dirOffline bool
	offlineAt  time.Duration
	reads      []commitlog.ReadError
	loading    bool
	// failoverChecked: checkLogDirFailover checked this failure once.
	failoverChecked bool
	hbSleep         hwWaiter
}

type hwWaiter struct {
	t *task
	w uint64
}

// errLogDirFailed: a start failed to load the logs on the failed disk
// (server: ErrLogDirFailed).
var errLogDirFailed = errors.New("sim: log directory failed while loading the logs")

// start opens a node from its disk, as a restarted process does, and
// starts its loops. It loads the partition logs first (server: New's
// commitlog.Manager.Load); when that fails on the failed disk, the node
// stays down and start returns errLogDirFailed.
func (s *Sim) start(n *node) error {
	n.life++
	n.up, n.paused, n.held = true, false, nil
	inc := &incarnation{n: n, logs: map[tp]*commitlog.Log{}, tasks: map[uint64]*task{},
		hwWait: map[tp][]hwWaiter{}, lastHW: map[tp]int64{}}
	n.inc = inc
	inc.fs = s.diskView(n)
	if err := s.loadLogs(inc); err != nil {
		n.up, n.inc = false, nil
		if n.diskFault {
			return fmt.Errorf("%w: node %d: %w", errLogDirFailed, n.id, err)
		}
		return fmt.Errorf("load the logs of node %d: %w", n.id, err)
	}
	meta, err := metadata.OpenReplicated(n.fs, dataDir, metadata.Options{ClusterID: "sim", Clock: n.clk, Rand: s.randReader(), Logger: quiet},
		metadata.QuorumOptions{SessionTimeout: s.cfg.SessionTimeout, Ticks: n.clk})
	if err != nil {
		return fmt.Errorf("open metadata of node %d: %w", n.id, err)
	}
	inc.meta = meta
	inc.rm = replica.NewManager(replica.Config{
		NodeID: n.id, ReplicaLagTimeMax: s.cfg.ReplicaLagTimeMax,
		Transport: fetchTransport{s, inc}, Alter: alterer{s, inc},
		Notify: func(topic string, p int32) { s.hwMoved(inc, tp{topic, p}) },
		Clock:  n.clk, Logger: quiet,
	})
	st, err := raft.OpenStepper(raft.Config{
		ID: uint64(n.id), FS: n.fs, Dir: raftDir, Voters: s.voterIDs(),
		Transport: raftTransport{s, n, n.life}, Apply: meta.ApplyCommitted, Restore: meta.RestoreSnapshot, Snapshot: meta.SnapshotData,
		SnapshotEntries: 40, CatchUpEntries: 20, ElectionTicks: 10, HeartbeatTicks: 1, Logger: quiet,
	})
	if err != nil {
		return fmt.Errorf("open raft of node %d: %w", n.id, err)
	}
	inc.raft = st
	meta.SetQuorum(simQuorum{s, inc}, nil)
	im := meta.Subscribe(func(prev, next *metadata.Image) { s.onImage(inc, prev, next) })
	s.onImage(inc, nil, im)
	s.logf("start %d (life %d, image offset %d)", n.id, n.life, im.Offset)

	s.every(s.cfg.TickInterval, n, func() { inc.raft.Tick(); inc.dirty = true })
	if n.voter {
		s.every(250*time.Millisecond, n, func() {
			s.storeCall(inc, "controller tick", func() result { return result{err: inc.meta.ControllerTick()} }, nil)
		})
	}
	s.every(s.cfg.ReplicaLagTimeMax/2, n, func() { inc.rm.ShrinkISRs() })
	s.every(syncInterval, n, func() { s.syncLogs(inc) })
	s.spawn("broker loop", n, inc, func(t *task) result { s.brokerLoop(t, inc); return result{} }, nil)
	s.spawn("fetcher", n, inc, func(t *task) result { s.fetchLoop(t, inc); return result{} }, nil)
	s.spawn("alter sender", n, inc, func(t *task) result { s.alterLoop(t, inc); return result{} }, nil)
	if inc.dirOffline { // a log went offline while loading (server: Run starts watchLogDir)
		s.spawn("log dir probe", n, inc, func(t *task) result { s.watchLogDir(t, inc); return result{} }, nil)
	}
	return nil
}

// diskView is n's disk as the partition logs see it: through the injector
// of its disk fault, which spares the metadata log, and the checker's
// reads (checking).
func (s *Sim) diskView(n *node) vfs.FS {
	return vfs.NewFaulty(n.fs, vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if !n.diskFault || s.checking || !strings.HasPrefix(path, dataDir+"/") || strings.HasPrefix(path, metaDir) {
			return vfs.Fault{}
		}
		if n.diskReads {
			if op == vfs.OpRead && strings.HasSuffix(path, ".log") {
				return vfs.Fault{Err: syscall.EIO}
			}
			return vfs.Fault{}
		}
		if op == vfs.OpRead || op == vfs.OpOpen {
			return vfs.Fault{}
		}
		return vfs.Fault{Err: n.diskErr, Written: s.rng.IntN(1 << 16)}
	}))
}

// loadLogs opens (and recovers) every partition log in the data
// directory, as commitlog.Manager.Load does at a broker's start; on an
// error it closes them again.
func (s *Sim) loadLogs(inc *incarnation) error {
	names, err := inc.n.fs.List(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list data dir: %w", err)
	}
	inc.loading = true
	defer func() { inc.loading = false }()
	for _, name := range names {
		i := strings.LastIndexByte(name, '-')
		part, perr := strconv.ParseInt(name[i+1:], 10, 32)
		if i <= 0 || perr != nil || strings.HasPrefix(name, "__") {
			continue // the metadata log, the probe's file, a log being deleted
		}
		if _, err := s.log(inc, tp{name[:i], int32(part)}); err != nil {
			for _, k := range sortedTPs(inc.logs) {
				_ = inc.logs[k].Close()
			}
			clear(inc.logs)
			return err
		}
	}
	return nil
}

// crash stops n at once, as a power loss: its un-fsynced writes are lost
// (torn: a random prefix of them survives).
func (s *Sim) crash(n *node, torn bool) {
	if !n.up {
		return
	}
	inc := n.inc
	if torn {
		n.fs = n.fs.CrashCloneTorn(s.rng)
	} else {
		n.fs = n.fs.CrashClone()
	}
	n.up, n.paused = false, false
	n.life++
	n.held = nil
	s.logf("crash %d (torn %v)", n.id, torn)
	s.kill(inc)
	_ = inc.raft.Close() // fails its waiters: they are dead tasks already
	n.inc = nil
}

// node returns node id (0: the client).
func (s *Sim) node(id int32) *node {
	if id == 0 {
		return s.client
	}
	if id < 1 || int(id) > len(s.nodes) {
		return nil
	}
	return s.nodes[id-1]
}

func (s *Sim) voterIDs() []uint64 {
	var ids []uint64
	for _, n := range s.nodes {
		if n.voter {
			ids = append(ids, uint64(n.id))
		}
	}
	return ids
}

// readyAll runs the raft Ready loop of every node with work, in id order;
// it reports whether any had.
func (s *Sim) readyAll() bool {
	did := false
	for _, n := range s.nodes {
		inc := n.inc
		if !n.up || n.paused || inc == nil || !inc.dirty {
			continue
		}
		inc.dirty = false
		did = true
		if err := inc.raft.Ready(); err != nil {
			s.fail("raft of node %d: %v", n.id, err)
		}
	}
	return did
}

// raftTransport sends a node's raft messages over the simulated network.
type raftTransport struct {
	s    *Sim
	n    *node
	life int
}

func (r raftTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		m := proto.Clone(m).(*raftpb.Message)
		to := r.s.node(int32(m.GetTo()))
		if to == nil || to == r.s.client {
			continue
		}
		r.s.send(r.n.id, to.id, "raft "+m.GetType().String(), func() {
			if inc := to.inc; inc != nil {
				inc.raft.Step(m)
				inc.dirty = true
			}
		})
	}
}

// simQuorum is metadata.Quorum over the node's raft Stepper: a call parks
// the Store task until raft answers (server: raftQuorum).
type simQuorum struct {
	s   *Sim
	inc *incarnation
}

func (q simQuorum) Propose(_ context.Context, data []byte) (uint64, error) {
	r := q.raftCall(func(done func(uint64, error)) func() { return q.inc.raft.Propose(data, done) })
	var nl *raft.NotLeaderError
	if errors.As(r.err, &nl) && !nl.Indeterminate {
		return 0, fmt.Errorf("%w: %w", metadata.ErrNotController, r.err)
	}
	idx, _ := r.val.(uint64)
	return idx, r.err
}

func (q simQuorum) ReadIndex(context.Context) (uint64, error) {
	r := q.raftCall(func(done func(uint64, error)) func() { return q.inc.raft.ReadIndex(done) })
	idx, _ := r.val.(uint64)
	return idx, r.err
}

func (q simQuorum) AddLearner(_ context.Context, id int32, _ string) error {
	st := q.inc.raft.Status()
	if slices.Contains(st.Voters, uint64(id)) || slices.Contains(st.Learners, uint64(id)) {
		return nil
	}
	return q.raftCall(func(done func(uint64, error)) func() { return q.inc.raft.AddLearner(uint64(id), done) }).err
}

// raftCall parks the running task on a raft request; the request times out
// as the Store's request context would.
func (q simQuorum) raftCall(req func(done func(uint64, error)) func()) result {
	s := q.s
	return s.await(func(t *task, w uint64) {
		cancel := req(func(idx uint64, err error) { s.wake(t, w, result{val: idx, err: err}) })
		q.inc.dirty = true
		s.deadline(t, w, s.cfg.RequestTimeout, cancel)
	})
}

func (q simQuorum) Status() metadata.QuorumStatus { return adapt.QuorumStatus(q.inc.raft.Status()) }

// storeCall runs fn (a Store mutation) as a task on inc's node, one at a
// time per node: a parked Store task may hold Store.mu. done, if set, gets
// the result. A node with a long queue refuses at once (busy).
func (s *Sim) storeCall(inc *incarnation, name string, fn func() result, done func(result)) {
	if len(inc.storeQ) >= 8 {
		if done != nil {
			done(result{err: errors.New("sim: controller busy")})
		}
		return
	}
	t := &task{s: s, name: name, node: inc.n, inc: inc, resume: make(chan result)}
	t.fn = func(*task) result { return fn() }
	t.onExit = func(r result) {
		inc.store = nil
		if done != nil {
			done(r)
		}
		s.nextStore(inc)
	}
	inc.storeQ = append(inc.storeQ, t)
	s.nextStore(inc)
}

func (s *Sim) nextStore(inc *incarnation) {
	if inc.store != nil || len(inc.storeQ) == 0 || !inc.n.up || inc.n.inc != inc {
		return
	}
	t := inc.storeQ[0]
	inc.storeQ = inc.storeQ[1:]
	inc.store = s.spawn(t.name, t.node, inc, t.fn, t.onExit)
}

// controllerOf returns the node a broker sends controller requests to: the
// raft leader it knows, else the voters in turn (server: toController).
func (s *Sim) controllerOf(inc *incarnation) int32 {
	if l := inc.raft.Status().Leader; l != 0 {
		return int32(l)
	}
	voters := s.voterIDs()
	inc.n.next = (inc.n.next + 1) % len(voters)
	return int32(voters[inc.n.next])
}

// toController sends a Store call to the active controller and parks the
// running task until it answers (or the request is lost).
func (s *Sim) toController(inc *incarnation, name string, fn func(ctl *incarnation) result) result {
	to := s.controllerOf(inc)
	return s.rpc(inc.n.id, to, name, s.cfg.RPCTimeout, func(reply func(result)) {
		ctl := s.node(to).inc
		s.storeCall(ctl, name, func() result { return fn(ctl) }, reply)
	})
}

// brokerLoop registers the broker and heartbeats (server: brokerLoop).
func (s *Sim) brokerLoop(t *task, inc *incarnation) {
	n := inc.n
	for !t.dead && !inc.stopping {
		if inc.epoch == 0 {
			r := s.toController(inc, "register", func(ctl *incarnation) result {
				reg := metadata.BrokerRegistration{Broker: metadata.Broker{NodeID: n.id, Host: "sim", Port: 9092}}
				if !n.voter {
					reg.RaftAddr = fmt.Sprintf("raft-%d", n.id)
				}
				e, err := ctl.meta.RegisterBroker(reg)
				return result{val: e, err: err}
			})
			if r.err != nil {
				_ = s.sleep(200 * time.Millisecond)
				continue
			}
			inc.epoch = r.val.(int64)
			s.logf("node %d registered, epoch %d", n.id, inc.epoch)
		}
		hb := metadata.Heartbeat{NodeID: n.id, Epoch: inc.epoch, MetadataOffset: inc.meta.Image().Offset, LogDirOffline: inc.dirOffline}
		r := s.toController(inc, "heartbeat", func(ctl *incarnation) result {
			res, err := ctl.meta.BrokerHeartbeat(hb)
			return result{val: res, err: err}
		})
		switch {
		case errors.Is(r.err, metadata.ErrStaleBrokerEpoch):
			s.logf("node %d: epoch %d stale, registering again", n.id, inc.epoch)
			inc.epoch = 0
			continue
		case r.err != nil:
			_ = s.sleep(100 * time.Millisecond)
			continue
		}
		wait := s.cfg.HeartbeatInterval
		if r.val.(metadata.HeartbeatResult).IsFenced {
			wait = min(wait, 100*time.Millisecond)
		}
		// A failed log directory is reported at once (server: logDirState.sleep).
		_ = s.await(func(t *task, w uint64) {
			inc.hbSleep = hwWaiter{t, w}
			s.after(wait, t.node, func() { s.wake(t, w, result{}) })
		})
	}
}

// logOffline is commitlog.Options.OnOffline (server: Server.logOffline):
// the first offline log takes the directory offline; the broker loop
// heartbeats at once and the probe loop starts.
func (s *Sim) logOffline(inc *incarnation, l *commitlog.Log, err error) {
	if inc.n.inc != inc {
		return
	}
	if re := (*commitlog.ReadError)(nil); errors.As(err, &re) && len(inc.reads) < maxProbeReads {
		inc.reads = append(inc.reads, *re)
	}
	if inc.dirOffline {
		return
	}
	inc.dirOffline, inc.offlineAt = true, s.now
	s.Stats.LogDirFailures++
	s.logf("node %d: log directory offline after %s-%d: %v", inc.n.id, l.Topic(), l.Partition(), err)
	if inc.loading {
		return // start starts the probe once the loops run
	}
	if w := inc.hbSleep; w.t != nil {
		s.wake(w.t, w.w, result{})
	}
	s.spawn("log dir probe", inc.n, inc, func(t *task) result { s.watchLogDir(t, inc); return result{} }, nil)
}

const (
	// logDirProbeInterval is Options.LogDirProbeInterval in the simulation
	// (the default is 5 s; runs are short).
	logDirProbeInterval = time.Second
	// logDirSlowProbes: a failed load probes first after this many
	// intervals (server: logDirSlowProbes).
	logDirSlowProbes = 6
	// maxProbeReads bounds the failed reads a probe repeats (server:
	// maxProbeReads).
	maxProbeReads = 16
)

// watchLogDir probes the failed directory until a probe succeeds, then
// stops the broker gracefully and restarts it (server: watchLogDir,
// ErrRestart, Reexec). The slow probes of a process restarted less than a
// minute ago are not modelled.
func (s *Sim) watchLogDir(t *task, inc *incarnation) {
	for !t.dead {
		if s.sleep(logDirProbeInterval) != nil {
			return
		}
		if err := commitlog.ProbeDir(inc.fs, dataDir, inc.reads); err != nil {
			continue
		}
		if inc.stopping {
			return
		}
		inc.stopping = true
		s.logf("node %d: log directory readable and writable again: restarting", inc.n.id)
		s.controlledShutdown(t, inc, 50*time.Millisecond)
		return
	}
}

// fetchLoop runs the follower fetches (server: replica.Manager.Run's
// fetchers, one source after the other), with maxWait 0: an idle round
// sleeps instead of long-polling.
func (s *Sim) fetchLoop(t *task, inc *incarnation) {
	for !t.dead {
		srcs := inc.rm.Sources()
		slices.Sort(srcs)
		progress := false
		for _, src := range srcs {
			p, _ := replica.FetchOnce(context.Background(), inc.rm, src, fetchTransport{s, inc}, 0)
			progress = progress || p
		}
		if progress {
			_ = s.sleep(time.Millisecond)
		} else {
			_ = s.sleep(s.cfg.FetchIdle)
		}
	}
}

// alterLoop sends the queued AlterPartition proposals (server:
// replica.Manager.Run's sender).
func (s *Sim) alterLoop(t *task, inc *incarnation) {
	for !t.dead {
		inc.rm.SendAlters(context.Background())
		_ = s.sleep(50 * time.Millisecond)
	}
}

// fetchTransport delivers a follower's Fetch to the leader's
// ServeReplicaFetch (server: replica.TCPTransport and the Fetch handler).
type fetchTransport struct {
	s   *Sim
	inc *incarnation
}

func (f fetchTransport) Fetch(_ context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	s, from := f.s, f.inc.n.id
	sortFetch(req)
	r := s.rpc(from, broker, "fetch", s.cfg.RPCTimeout, func(reply func(result)) {
		dst := s.node(broker).inc
		reply(result{val: dst.rm.ServeReplicaFetch(context.Background(), from, req, nil)})
	})
	if r.err != nil {
		return nil, r.err
	}
	return r.val.(*kmsg.FetchResponse), nil
}

// sortFetch orders a fetch's partitions (the replica manager builds it
// from a map), so that the leader serves them, and proposes ISR changes, in
// an order the seed fixes.
func sortFetch(req *kmsg.FetchRequest) {
	slices.SortFunc(req.Topics, func(a, b kmsg.FetchRequestTopic) int {
		switch {
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	for i := range req.Topics {
		slices.SortFunc(req.Topics[i].Partitions, func(a, b kmsg.FetchRequestTopicPartition) int { return int(a.Partition - b.Partition) })
	}
}

// alterer is the broker's ISRChanger: AlterPartition to the active
// controller (server: storeAlter, forwarded to the controller).
type alterer struct {
	s   *Sim
	inc *incarnation
}

func (a alterer) AlterPartition(_ context.Context, req replica.AlterPartitionRequest) error {
	r := a.s.toController(a.inc, "alter partition", func(ctl *incarnation) result {
		return result{err: ctl.meta.AlterPartition(req.Topic, req.Partition, req.LeaderID, req.LeaderEpoch, req.PartitionEpoch, req.NewISR)}
	})
	return adapt.AlterError(r.err)
}

// onImage is the node's metadata subscriber: it runs the checks on the
// image and gives every local replica its state (server: syncReplicas).
func (s *Sim) onImage(inc *incarnation, prev, next *metadata.Image) {
	s.checkImage(inc, prev, next)
	inc.lastIm = next
	n := inc.n
	r := next.Registration(n.id)
	registered := inc.epoch > 0 && r != nil && r.Epoch == inc.epoch
	live := registered && !r.Fenced
	relive := live != inc.live
	reapply := relive || registered != inc.registered
	inc.live, inc.registered = live, registered
	for _, name := range next.TopicNames() {
		t := next.Topic(name)
		for i := range t.Partitions {
			mp := &t.Partitions[i]
			k := tp{name, mp.Index}
			if !slices.Contains(mp.Replicas, n.id) {
				s.removeReplica(inc, prev, t, i, live && relive)
				continue
			}
			if prev != nil && !reapply {
				if pt := prev.Topic(name); pt != nil && pt.ID == t.ID && i < len(pt.Partitions) && samePartition(&pt.Partitions[i], mp) &&
					inc.rm.Partition(name, mp.Index) != nil {
					continue
				}
			}
			l, err := s.log(inc, k)
			if err != nil && n.diskFault {
				s.logf("node %d: create log %s-%d: %v", n.id, name, mp.Index, err) // server: logged, no replica
				continue
			}
			if err != nil {
				s.fail("open log %s-%d on node %d: %v", name, mp.Index, n.id, err)
				continue
			}
			leader := mp.Leader
			if !registered || (leader == n.id && !live) {
				leader = -1 // server: syncReplicas
			}
			if err := inc.rm.Apply(name, mp.Index, l, replica.State{Leader: leader, LeaderEpoch: mp.LeaderEpoch,
				PartitionEpoch: mp.PartitionEpoch, Replicas: mp.Replicas, ISR: mp.ISR}); err != nil {
				s.fail("apply %s-%d on node %d: %v", name, mp.Index, n.id, err)
			}
			s.hwMoved(inc, k) // waiters re-check their leadership
		}
	}
}

// removeReplica is syncReplicas for a partition that does not list this
// broker: the replica goes, and its log too, but only while the broker is
// live (server: removeLog): reassigned away (prev listed it) or, when it
// becomes live, a stray log. A restarted broker replaying records its
// earlier incarnation acted on must not delete a log the latest metadata
// counts on again (seeds 212 and 488 before the fix).
func (s *Sim) removeReplica(inc *incarnation, prev *metadata.Image, t *metadata.Topic, i int, becameLive bool) {
	mp := &t.Partitions[i]
	k := tp{t.Name, mp.Index}
	if inc.rm.Partition(t.Name, mp.Index) != nil {
		inc.rm.Remove(t.Name, mp.Index)
		s.hwMoved(inc, k)
	}
	if !inc.live {
		return
	}
	if !becameLive {
		if prev == nil {
			return
		}
		pt := prev.Topic(t.Name)
		if pt == nil || pt.ID != t.ID || i >= len(pt.Partitions) || !slices.Contains(pt.Partitions[i].Replicas, inc.n.id) {
			return
		}
	} else if _, err := inc.n.fs.Stat(fmt.Sprintf("%s/%s-%d", dataDir, k.topic, k.part)); err != nil && inc.logs[k] == nil {
		return // no stray log
	}
	l, err := s.log(inc, k)
	if err == nil {
		err = l.Delete()
	}
	delete(inc.logs, k)
	delete(inc.lastHW, k)
	s.logf("node %d: replica of %s-%d reassigned away, log removed (%v)", inc.n.id, k.topic, k.part, err)
}

func samePartition(a, b *metadata.Partition) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR)
}

// syncInterval is how often a node fsyncs the logs with un-fsynced appends.
const syncInterval = 50 * time.Millisecond

// syncLogs fsyncs every log of inc that holds un-fsynced appends, in a fixed
// order (server: the commitlog Manager's syncer, which a durable log queues
// itself on at every append, so a follower's last fetched batches become
// durable even when nobody waits for them — as on a new leader).
func (s *Sim) syncLogs(inc *incarnation) {
	keys := slices.SortedFunc(maps.Keys(inc.logs), func(a, b tp) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
	})
	for _, k := range keys {
		l := inc.logs[k]
		if l.DurableOffset() < l.LogEndOffset() {
			_ = l.Flush() // an error takes the log offline; the checks see it
		}
	}
}

// log returns the partition's local log, opening (and recovering) it.
func (s *Sim) log(inc *incarnation, k tp) (*commitlog.Log, error) {
	if l := inc.logs[k]; l != nil {
		return l, nil
	}
	cfg := commitlog.DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	l, err := commitlog.Open(inc.fs, fmt.Sprintf("%s/%s-%d", dataDir, k.topic, k.part), cfg, commitlog.Options{Clock: inc.n.clk, Logger: quiet,
		OnOffline: func(l *commitlog.Log, err error) { s.logOffline(inc, l, err) }})
	if err != nil {
		return nil, err
	}
	// server.newTxn: every log's producer state is rebuilt before the
	// first fetch, so that the last stable offsets hold the open
	// transactions back (loaded lazily, a log's last stable offset follows
	// its high watermark until then). A failure is logged there; the state
	// loads again on the log's next use. A new log's state is loaded now
	// too (the server: at its first use), so that the checks, which read
	// the state, never load it and write its snapshot themselves.
	_ = l.LoadProducerState()
	inc.logs[k] = l
	return l, nil
}

// hwMoved wakes the produce requests waiting on a partition of inc.
func (s *Sim) hwMoved(inc *incarnation, k tp) {
	ws := inc.hwWait[k]
	delete(inc.hwWait, k)
	for _, w := range ws {
		s.wake(w.t, w.w, result{})
	}
}

// randReader is the metadata store's source of ids, from the seed.
func (s *Sim) randReader() io.Reader { return rngReader{s} }

type rngReader struct{ s *Sim }

func (r rngReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.s.rng.Uint32())
	}
	return len(b), nil
}

// controlledShutdown is quorumNode.shutdown's broker part: heartbeat with
// WantShutdown until the controller answers ShouldShutdown (it moved every
// leadership away), wait until the node's own image shows it leads nothing,
// bounded by 5 s in all; then stop (cleanly) and restart after down. The
// quorum-leadership hand-over of a stopping controller is not modelled
// (raft.Stepper has no TransferLeadership): its raft peers elect a leader.
func (s *Sim) controlledShutdown(t *task, inc *incarnation, down time.Duration) {
	n := inc.n
	deadline := s.now + 5*time.Second
	moved := false
	for inc.epoch > 0 && s.now < deadline && !t.dead {
		hb := metadata.Heartbeat{NodeID: n.id, Epoch: inc.epoch, MetadataOffset: inc.meta.Image().Offset, WantShutdown: true, LogDirOffline: inc.dirOffline}
		r := s.toController(inc, "shutdown heartbeat", func(ctl *incarnation) result {
			res, err := ctl.meta.BrokerHeartbeat(hb)
			return result{val: res, err: err}
		})
		if r.err == nil && r.val.(metadata.HeartbeatResult).ShouldShutdown {
			moved = true
			// awaitLeadershipsReplayed
			for inc.meta.Image().LeadsAny(n.id) && s.now < deadline && !t.dead {
				_ = s.sleep(10 * time.Millisecond)
			}
			break
		}
		_ = s.sleep(100 * time.Millisecond)
	}
	if t.dead {
		return
	}
	if moved && !inc.meta.Image().LeadsAny(n.id) {
		s.Stats.ControlledShutdowns++
		// The controller does not elect a broker in controlled shutdown.
		if ctl := s.activeController(); ctl != nil && ctl.meta.Image().Offset >= inc.meta.Image().Offset && ctl.meta.Image().LeadsAny(n.id) {
			if r := ctl.meta.Image().Registration(n.id); r != nil && r.Epoch == inc.epoch {
				s.fail("controlled shutdown: node %d (epoch %d) leads a partition again in the controller's image", n.id, inc.epoch)
			}
		}
	}
	s.logf("node %d: controlled shutdown done (leaderships moved %v), stopping", n.id, moved)
	life := n.life
	s.after(0, nil, func() {
		if n.life == life && n.up {
			s.stop(n)
			s.after(down, nil, func() { s.restart(n) })
		}
	})
}

// stop ends n gracefully, as Server.Run's return does: its tasks end, its
// logs are closed (synced), nothing written is lost.
func (s *Sim) stop(n *node) {
	if !n.up {
		return
	}
	inc := n.inc
	n.up, n.paused = false, false
	n.life++
	n.held = nil
	s.logf("stop %d", n.id)
	s.kill(inc)
	s.settle() // the killed tasks run to their end before the logs close
	for _, k := range sortedTPs(inc.logs) {
		_ = inc.logs[k].Close()
	}
	_ = inc.raft.Close()
	n.fs = n.fs.CrashClone() // everything was synced: the same disk
	n.inc = nil
}
