package metadata

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Cluster-mode errors.
var (
	// ErrNotController: this node is not the active controller (Kafka
	// NOT_CONTROLLER). Callers retry against the leader.
	ErrNotController = errors.New("metadata: not the active controller")
	// ErrStaleBrokerEpoch: a heartbeat or AlterPartition named a broker
	// epoch that is not the broker's current registration (Kafka
	// STALE_BROKER_EPOCH).
	ErrStaleBrokerEpoch = errors.New("metadata: stale broker epoch")
	// ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable and
	// ErrEligibleLeadersNotAvailable are per-partition ElectLeaders results
	// (Kafka ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
	// ELIGIBLE_LEADERS_NOT_AVAILABLE).
	ErrElectionNotNeeded           = errors.New("metadata: election not needed")
	ErrPreferredLeaderNotAvailable = errors.New("metadata: preferred leader not available")
	ErrEligibleLeadersNotAvailable = errors.New("metadata: eligible leaders not available")
)

// Quorum is the replicated log under a cluster-mode Store: the raft group
// of the controllers (internal/raft's Node, adapted by the server). The
// Store hands it encoded record batches; committed ones come back through
// ApplyCommitted, on the log's own goroutine, on every member.
type Quorum interface {
	// Propose appends data and returns its offset once it is committed and
	// applied here. A node that is not the leader fails with an error
	// wrapping ErrNotController. Any other error means the batch may or may
	// not commit.
	Propose(ctx context.Context, data []byte) (uint64, error)
	// ReadIndex waits until this node has applied everything committed
	// before the call (on a new leader: everything of earlier terms).
	ReadIndex(ctx context.Context) (uint64, error)
	// Status is the node's view of the quorum; it never blocks.
	Status() QuorumStatus
	// AddLearner makes broker id, whose raft transport listens at addr, a
	// learner of the log unless it is a member already. Leader only.
	AddLearner(ctx context.Context, id int32, addr string) error
}

// QuorumStatus is a node's view of the quorum (what DescribeQuorum reports).
type QuorumStatus struct {
	NodeID   int32
	Leader   int32 // -1 when unknown
	Term     uint64
	IsLeader bool
	Commit   uint64 // the high watermark
	Applied  uint64
	Voters   []int32
	Learners []int32
	// Progress of every member; the leader's view only.
	Progress []ReplicaProgress
}

// ReplicaProgress is the leader's view of one member of the quorum.
type ReplicaProgress struct {
	ID           int32
	LogEnd       int64 // the highest offset known replicated there
	Learner      bool
	RecentActive bool
}

// Forwarder sends a mutation to the active controller (a broker that is not
// the controller forwards, as Kafka's brokers do since KIP-590) and returns
// once the controller answered; the Store then catches up with the log.
type Forwarder interface {
	Forward(ctx context.Context, controller int32, cmd *Command) error
}

// Command is a forwarded mutation; Op says which fields are meaningful.
type Command struct {
	Op string

	Topic        string
	TopicID      [16]byte
	Create       CreateTopicRequest // OpCreateTopic
	Total        int32              // OpCreatePartitions
	Assignment   [][]int32          // OpCreatePartitions, nil = automatic
	Configs      map[string]string  // OpSetTopicConfigs
	Partition    int32              // OpAlterPartition
	LeaderID     int32
	LeaderEpoch  int32
	PartEpoch    int32
	ISR          []int32
	Unclean      bool               // OpElectLeaders
	Partitions   map[string][]int32 // OpElectLeaders; nil = all
	ElectResults map[string]map[int32]error
	Reassign     map[string]map[int32][]int32 // OpReassign; a nil target cancels
	Quorum       *QuorumStatus                // OpDescribeQuorum: the controller's answer
}

// Forwarded operations.
const (
	OpCreateTopic      = "createTopic"
	OpDeleteTopic      = "deleteTopic"
	OpDeleteTopicByID  = "deleteTopicByID"
	OpCreatePartitions = "createPartitions"
	OpSetTopicConfigs  = "setTopicConfigs"
	OpAlterPartition   = "alterPartition"
	OpElectLeaders     = "electLeaders"
	OpReassign         = "reassign"
	OpDescribeQuorum   = "describeQuorum" // a read, forwarded for the leader's progress view
)

// QuorumOptions configure a cluster-mode Store.
type QuorumOptions struct {
	// SessionTimeout is broker.session.timeout.ms: a broker that has not
	// heartbeated for this long is fenced. Default 9s.
	SessionTimeout time.Duration
	// RequestTimeout bounds one mutation (proposal or forward). Default 30s.
	RequestTimeout time.Duration
	// Ticks is the clock broker sessions and the controller's other timers
	// are measured on; nil = clock.Real. It must be monotonic, as Kafka's
	// controller measures them with time.nanoseconds(): clock.Real is
	// (time.Now carries a monotonic reading that wall clock jumps do not
	// move), and so is a simulation's fake clock. Options.Clock, the wall
	// clock, may jump (a test broker's clock.Skewed strobes it); a session
	// measured on it expired live brokers (docs/reliability.md, F19).
	Ticks clock.Clock
}

// ctlState is the active controller's in-memory state (Kafka's
// BrokerHeartbeatManager): not in the log, rebuilt on activation.
type ctlState struct {
	activeTerm uint64              // the term this node became active in; 0 = not active
	lastSeen   map[int32]time.Time // last heartbeat (or activation) per broker, on QuorumOptions.Ticks
	balanced   time.Time           // the last preferred-leader check (balance.go), on Ticks
	lastTick   time.Time           // the end of the last controllerTick, on Ticks
}

// OpenReplicated opens a cluster-mode Store under dataDir: meta.properties
// there, the image built by the records the Quorum commits. opts.Self is
// ignored (brokers register); opts.ClusterID is required (every member must
// agree). Call SetQuorum before any mutation; the Store is empty until the
// log's snapshot and entries are applied (RestoreSnapshot, ApplyCommitted).
func OpenReplicated(fsys vfs.FS, dataDir string, opts Options, qo QuorumOptions) (*Store, error) {
	if opts.ClusterID == "" {
		return nil, errors.New("metadata: cluster mode needs a cluster id")
	}
	fillOptions(&opts)
	if qo.SessionTimeout <= 0 {
		qo.SessionTimeout = 9 * time.Second
	}
	if qo.RequestTimeout <= 0 {
		qo.RequestTimeout = 30 * time.Second
	}
	if qo.Ticks == nil {
		qo.Ticks = clock.Real
	}
	s := &Store{fs: fsys, dir: fsys.PathJoin(dataDir, logDirName), opts: opts, qopts: qo, replicated: true,
		ctl: ctlState{lastSeen: map[int32]time.Time{}}}
	if err := fsys.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir: %w", err)
	}
	if err := syncParents(fsys, dataDir); err != nil {
		return nil, err
	}
	if _, err := s.loadMeta(dataDir); err != nil {
		return nil, err
	}
	s.image.Store(s.emptyQuorumImage())
	return s, nil
}

func fillOptions(opts *Options) {
	if opts.Config == nil {
		c := config.Defaults()
		opts.Config = &c
	}
	if opts.MaxPartitions <= 0 {
		opts.MaxPartitions = DefaultMaxPartitions
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
}

func (s *Store) emptyQuorumImage() *Image {
	return &Image{
		ClusterID:    s.opts.ClusterID,
		ControllerID: s.opts.Self.NodeID,
		Topics:       map[string]*Topic{},
		TopicsByID:   map[[16]byte]*Topic{},
		quorum:       true,
	}
}

// SetQuorum attaches the log and the forwarder. Call it once, before the
// log runs.
func (s *Store) SetQuorum(q Quorum, fwd Forwarder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.q, s.fwd = q, fwd
}

// Replicated reports whether the store is in cluster mode.
func (s *Store) Replicated() bool { return s.replicated }

// QuorumStatus returns the quorum's state. In single-node mode it describes
// a one-voter quorum led by this node.
func (s *Store) QuorumStatus() QuorumStatus {
	if s.q == nil {
		id := s.opts.Self.NodeID
		return QuorumStatus{NodeID: id, Leader: id, Term: 1, IsLeader: true, Voters: []int32{id},
			Progress: []ReplicaProgress{{ID: id, LogEnd: s.size, RecentActive: true}}}
	}
	return s.q.Status()
}

// DescribeQuorum returns the quorum as its leader sees it, with every
// member's progress: a member that is not the leader asks the leader (as
// Kafka's brokers forward DescribeQuorum to the active controller) and falls
// back to its own view when that fails.
func (s *Store) DescribeQuorum() QuorumStatus {
	st := s.QuorumStatus()
	if s.q == nil || s.fwd == nil || st.IsLeader || st.Leader < 0 {
		return st
	}
	ctx, cancel := s.requestCtx()
	defer cancel()
	cmd := &Command{Op: OpDescribeQuorum}
	if err := s.fwd.Forward(ctx, st.Leader, cmd); err != nil || cmd.Quorum == nil {
		return st
	}
	q := *cmd.Quorum
	q.NodeID, q.IsLeader, q.Applied = st.NodeID, false, st.Applied
	return q
}

// ApplyCommitted applies one committed batch at offset index. The Quorum
// calls it on its own goroutine, in log order, on every member. A batch that
// does not apply (a bug, or a proposal validated against a stale image) is
// skipped whole, identically on every member, and logged.
func (s *Store) ApplyCommitted(index uint64, data []byte) {
	recs, err := decodeLine(trimEOL(data))
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	prev := s.image.Load()
	b := newBuilder(prev)
	b.offset = int64(index)
	if err == nil {
		for i := range recs {
			if err = b.apply(&recs[i]); err != nil {
				break
			}
		}
	}
	var next *Image
	if err != nil {
		s.opts.Logger.Error("metadata: skipping a committed batch that does not apply", "offset", index, "err", err)
		c := *prev
		next = &c
	} else {
		next = b.finish()
	}
	next.Offset = int64(index)
	s.publishLocked(prev, next)
}

// RestoreSnapshot replaces the image with the snapshot data taken at index
// (empty data: the log's bootstrap snapshot).
func (s *Store) RestoreSnapshot(index uint64, data []byte) error {
	b := newBuilder(s.emptyQuorumImage())
	b.offset = int64(index)
	if len(trimEOL(data)) > 0 {
		recs, err := decodeLine(trimEOL(data))
		if err != nil {
			return fmt.Errorf("metadata snapshot at %d: %w", index, err)
		}
		for i := range recs {
			if err := b.apply(&recs[i]); err != nil {
				return fmt.Errorf("metadata snapshot at %d: %w", index, err)
			}
		}
	}
	next := b.finish()
	next.Offset = int64(index)
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.publishLocked(s.image.Load(), next)
	return nil
}

// SnapshotData returns the image as one batch of records (the Quorum's
// snapshot of the state machine). It runs on the log's goroutine, so the
// image is the one of the last applied offset.
func (s *Store) SnapshotData() ([]byte, error) {
	return encodeLine(snapshotRecords(s.image.Load()))
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// publishLocked stores next and runs the subscribers. s.pubMu must be held.
func (s *Store) publishLocked(prev, next *Image) {
	s.image.Store(next)
	for _, fn := range s.subs {
		fn(prev, next)
	}
}

// requestCtx bounds one mutation.
func (s *Store) requestCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.qopts.RequestTimeout)
}

// remote reports whether a mutation must be forwarded: cluster mode, not a
// validation, and this node is not the raft leader.
func (s *Store) remote(validateOnly bool) bool {
	return s.q != nil && !validateOnly && !s.q.Status().IsLeader
}

// forward sends cmd to the active controller, retrying while leadership is
// unknown or moving, then waits until the local image has the result.
func (s *Store) forward(cmd *Command) error {
	if s.fwd == nil {
		return ErrNotController
	}
	ctx, cancel := s.requestCtx()
	defer cancel()
	for {
		st := s.q.Status()
		var err error
		switch {
		case st.IsLeader:
			return ErrNotController // became leader meanwhile: the caller's client retries
		case st.Leader < 0:
			err = ErrNotController
		default:
			err = s.fwd.Forward(ctx, st.Leader, cmd)
		}
		if err == nil {
			if _, err := s.q.ReadIndex(ctx); err != nil {
				return fmt.Errorf("catch up with the metadata log: %w", err)
			}
			return nil
		}
		if !errors.Is(err, ErrNotController) {
			return err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("forward %s to the controller: %w", cmd.Op, ctx.Err())
		case <-t.C:
		}
	}
}

// activeLocked makes sure this node is the active controller: the raft
// leader, caught up with every entry of earlier terms (the ReadIndex
// barrier), with its broker session timers reset. Validation-only calls
// skip it. s.mu must be held.
func (s *Store) activeLocked(validateOnly bool) error {
	if s.q == nil || validateOnly {
		return nil
	}
	st := s.q.Status()
	if !st.IsLeader {
		return fmt.Errorf("%w (leader %d)", ErrNotController, st.Leader)
	}
	if s.ctl.activeTerm == st.Term {
		return nil
	}
	ctx, cancel := s.requestCtx()
	defer cancel()
	if _, err := s.q.ReadIndex(ctx); err != nil {
		return fmt.Errorf("%w: activation: %w", ErrNotController, err)
	}
	if st2 := s.q.Status(); !st2.IsLeader || st2.Term != st.Term {
		return fmt.Errorf("%w: leadership moved during activation", ErrNotController)
	}
	s.ctl.activeTerm = st.Term
	now := s.qopts.Ticks.Now()
	clear(s.ctl.lastSeen)
	for _, r := range s.image.Load().Registrations {
		s.ctl.lastSeen[r.NodeID] = now // a grace period, as Kafka's new controller gives
	}
	s.opts.Logger.Info("active controller", "node", st.NodeID, "term", st.Term, "offset", s.image.Load().Offset)
	return nil
}

// proposeLocked commits recs through the quorum. s.mu must be held and
// activeLocked must have succeeded.
func (s *Store) proposeLocked(recs []record) (*Image, error) {
	if len(recs) == 0 {
		return s.image.Load(), nil
	}
	line, err := encodeLine(recs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.requestCtx()
	defer cancel()
	if _, err := s.q.Propose(ctx, line); err != nil {
		// Maybe committed: re-validate from the log after a new barrier.
		s.ctl.activeTerm = 0
		return nil, err
	}
	return s.image.Load(), nil
}

// BrokerRegistration is a BrokerRegistration request (API 62).
type BrokerRegistration struct {
	Broker
	// RaftAddr is the broker's raft transport address; a broker that is
	// not a voter becomes a learner there.
	RaftAddr string
}

// RegisterBroker registers a broker (a new incarnation: any older one is
// replaced and its leaderships moved, as for a fenced broker) and returns its
// epoch. The broker starts fenced; a heartbeat showing it caught up with its
// registration unfences it. Active controller only.
func (s *Store) RegisterBroker(r BrokerRegistration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q == nil {
		return 0, ErrNotController
	}
	if err := s.activeLocked(false); err != nil {
		return 0, err
	}
	st := s.q.Status()
	if r.RaftAddr != "" && !slices.Contains(st.Voters, r.NodeID) {
		ctx, cancel := s.requestCtx()
		err := s.q.AddLearner(ctx, r.NodeID, r.RaftAddr)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("add learner %d: %w", r.NodeID, err)
		}
	}
	im := s.image.Load()
	recs := s.leaveChanges(im, r.NodeID, true)
	recs = append(recs, record{Type: recRegisterBroker, BrokerID: r.NodeID, Host: r.Host, Port: r.Port, Rack: r.Rack,
		RaftAddr: r.RaftAddr, Fenced: true})
	next, err := s.proposeLocked(recs)
	if err != nil {
		return 0, err
	}
	reg := next.Registration(r.NodeID)
	if reg == nil {
		return 0, fmt.Errorf("BUG: broker %d not registered after its record applied", r.NodeID)
	}
	s.ctl.lastSeen[r.NodeID] = s.qopts.Ticks.Now()
	s.opts.Logger.Info("broker registered", "broker", r.NodeID, "epoch", reg.Epoch, "host", r.Host, "port", r.Port)
	return reg.Epoch, nil
}

// Heartbeat is a BrokerHeartbeat request (API 63).
type Heartbeat struct {
	NodeID         int32
	Epoch          int64
	MetadataOffset int64 // the offset the broker has applied
	WantFence      bool
	WantShutdown   bool
	// LogDirOffline: the broker's log directory failed (BrokerHeartbeat v1
	// OfflineLogDirs not empty; Kavka brokers have one directory).
	LogDirOffline bool
}

// HeartbeatResult is what the controller answers.
type HeartbeatResult struct {
	IsCaughtUp     bool
	IsFenced       bool
	ShouldShutdown bool
}

// BrokerHeartbeat records a heartbeat and acts on it: unfence a broker that
// caught up with its registration, fence one that asks to be, move the
// leaderships of one in controlled shutdown (ShouldShutdown once it leads
// nothing), and take every replica of a broker whose log directory failed
// offline (KIP-858, ReplicationControlManager.handleDirectoriesOffline: its
// leaderships move to other ISR members and it leaves every ISR; it stays
// so until it registers again). Active controller only.
func (s *Store) BrokerHeartbeat(hb Heartbeat) (HeartbeatResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q == nil {
		return HeartbeatResult{}, ErrNotController
	}
	if err := s.activeLocked(false); err != nil {
		return HeartbeatResult{}, err
	}
	im := s.image.Load()
	reg := im.Registration(hb.NodeID)
	if reg == nil || reg.Epoch != hb.Epoch {
		return HeartbeatResult{}, fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, hb.NodeID, hb.Epoch)
	}
	s.ctl.lastSeen[hb.NodeID] = s.qopts.Ticks.Now()
	caughtUp := hb.MetadataOffset >= reg.Epoch
	var recs []record
	switch {
	case hb.WantShutdown:
		if !reg.ShuttingDown || im.LeadsAny(hb.NodeID) {
			recs = append(s.leaveChanges(im, hb.NodeID, false), record{Type: recShutdownBroker, BrokerID: hb.NodeID, BrokerEpoch: reg.Epoch})
		}
	case hb.LogDirOffline && !reg.LogDirOffline:
		s.opts.Logger.Warn("broker log directory offline: moving its replicas out", "broker", hb.NodeID, "epoch", reg.Epoch)
		recs = append(s.leaveChanges(im, hb.NodeID, false), record{Type: recLogDirOffline, BrokerID: hb.NodeID, BrokerEpoch: reg.Epoch})
	case hb.WantFence && !reg.Fenced:
		recs = append(s.leaveChanges(im, hb.NodeID, false), record{Type: recFenceBroker, BrokerID: hb.NodeID, BrokerEpoch: reg.Epoch})
	case !hb.WantFence && reg.Fenced && caughtUp:
		recs = []record{{Type: recUnfenceBroker, BrokerID: hb.NodeID, BrokerEpoch: reg.Epoch}}
		if !reg.LogDirOffline && !hb.LogDirOffline {
			recs = append(recs, s.joinChanges(im, hb.NodeID)...)
		}
	}
	if len(recs) > 0 {
		next, err := s.proposeLocked(recs)
		if err != nil {
			return HeartbeatResult{}, err
		}
		im, reg = next, next.Registration(hb.NodeID)
		if reg == nil {
			return HeartbeatResult{}, fmt.Errorf("BUG: broker %d lost its registration", hb.NodeID)
		}
		if !hb.WantShutdown {
			s.opts.Logger.Info("broker state", "broker", hb.NodeID, "epoch", reg.Epoch, "fenced", reg.Fenced, "log_dir_offline", reg.LogDirOffline)
		}
	}
	return HeartbeatResult{
		IsCaughtUp:     caughtUp,
		IsFenced:       reg.Fenced || reg.ShuttingDown,
		ShouldShutdown: hb.WantShutdown && reg.ShuttingDown && !im.LeadsAny(hb.NodeID),
	}, nil
}

// RunController runs the active controller's timers until ctx is done:
// activation when this node becomes leader, and fencing of brokers whose
// session expired. Every node with the controller role runs it.
func (s *Store) RunController(ctx context.Context) error {
	if s.q == nil {
		return nil
	}
	every := min(s.qopts.SessionTimeout/8, 250*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.ControllerTick(); err != nil && !errors.Is(err, ErrNotController) {
			s.opts.Logger.Warn("controller", "err", err)
		}
	}
}

// ControllerTick is one round of RunController's timer: on the active
// controller, fence expired brokers and elect leaders for leaderless
// partitions; elsewhere, forget the active controller's state. RunController
// calls it every min(session timeout/8, 250ms); simulations call it as a
// step. A node that is not the raft leader returns nil.
func (s *Store) ControllerTick() error {
	if s.q == nil {
		return nil
	}
	if !s.q.Status().IsLeader {
		s.mu.Lock()
		s.ctl.activeTerm, s.ctl.balanced, s.ctl.lastTick = 0, time.Time{}, time.Time{}
		s.mu.Unlock()
		return nil
	}
	return s.controllerTick()
}

// controllerTick fences expired brokers and elects leaders for leaderless
// partitions that have an eligible replica.
func (s *Store) controllerTick() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return err
	}
	now := s.qopts.Ticks.Now()
	// A controller that could not tick for a while (s.mu held by a long
	// mutation, e.g. 10,000 partitions whose logs the subscribers create,
	// or the process paused) could not take heartbeats either: the stall
	// does not count against the brokers' sessions.
	if !s.ctl.lastTick.IsZero() {
		if stall := now.Sub(s.ctl.lastTick) - time.Second; stall > 0 {
			s.opts.Logger.Warn("controller stalled; broker sessions extended", "stall", stall)
			for id, seen := range s.ctl.lastSeen {
				s.ctl.lastSeen[id] = seen.Add(stall)
			}
		}
	}
	defer func() { s.ctl.lastTick = s.qopts.Ticks.Now() }()
	im := s.image.Load()
	for _, r := range im.Registrations {
		if r.Fenced {
			continue
		}
		seen, ok := s.ctl.lastSeen[r.NodeID]
		if !ok {
			s.ctl.lastSeen[r.NodeID] = now
			continue
		}
		if now.Sub(seen) < s.qopts.SessionTimeout {
			continue
		}
		s.opts.Logger.Warn("fencing broker: session expired", "broker", r.NodeID, "epoch", r.Epoch, "last_heartbeat", seen)
		recs := append(s.leaveChanges(im, r.NodeID, false), record{Type: recFenceBroker, BrokerID: r.NodeID, BrokerEpoch: r.Epoch})
		next, err := s.proposeLocked(recs)
		if err != nil {
			return err
		}
		im = next
	}
	if recs := s.electLeaderless(im); len(recs) > 0 {
		_, err := s.proposeLocked(recs)
		return err
	}
	if recs := s.finishReassignments(im); len(recs) > 0 {
		_, err := s.proposeLocked(recs)
		return err
	}
	if bc := s.balanceConfig(); bc.enabled {
		if s.ctl.balanced.IsZero() {
			s.ctl.balanced = now // the first check one interval after activation
		} else if now.Sub(s.ctl.balanced) >= bc.interval {
			s.ctl.balanced = now
			if recs := preferredElections(im, bc.percent); len(recs) > 0 {
				s.opts.Logger.Info("auto leader rebalance", "partitions", len(recs))
				_, err := s.proposeLocked(recs)
				return err
			}
		}
	}
	return nil
}

// uncleanAllowed reports unclean.leader.election.enable for topic t.
func (s *Store) uncleanAllowed(t *Topic) bool {
	tc, err := s.opts.Config.ResolveTopic(t.Configs)
	if err != nil {
		return s.opts.Config.Log.UncleanLeaderElection
	}
	return tc.UncleanLeaderElection
}

// leaveChanges returns the partition changes for broker id leaving (fenced,
// shutting down, or re-registering): a partition it leads gets the first
// other live ISR member, in replica order, as leader in a new epoch (an
// unclean choice if allowed and no ISR member is live; otherwise no leader,
// keeping the ISR, as KRaft does); it leaves every other ISR it is in.
// Mirrors ReplicationControlManager.handleBrokerFenced.
func (s *Store) leaveChanges(im *Image, id int32, restarting bool) []record {
	var recs []record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			np := p
			switch {
			case p.Leader == id:
				np.Leader = -1
				for _, r := range p.Replicas {
					if r != id && slices.Contains(p.ISR, r) && im.Live(r) {
						np.Leader = r
						break
					}
				}
				if np.Leader < 0 && s.uncleanAllowed(t) {
					for _, r := range p.Replicas {
						if r != id && im.Live(r) {
							np.Leader, np.ISR = r, []int32{r}
							break
						}
					}
				}
				if np.Leader >= 0 && len(np.ISR) > 1 {
					np.ISR = without(p.ISR, id)
				}
				np.LeaderEpoch++
			case slices.Contains(p.ISR, id) && len(p.ISR) > 1:
				np.ISR = without(p.ISR, id)
			case restarting && p.Leader < 0 && slices.Contains(p.ISR, id):
				continue // it will be leader again when unfenced
			default:
				continue
			}
			np.PartitionEpoch++
			recs = append(recs, changeRecord(t.ID, np))
		}
	}
	return recs
}

// joinChanges returns the partition changes for broker id becoming live: a
// leaderless partition whose ISR holds it gets it as leader in a new epoch.
func (s *Store) joinChanges(im *Image, id int32) []record {
	var recs []record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			if p.Leader < 0 && slices.Contains(p.ISR, id) {
				np := p
				np.Leader = id
				np.LeaderEpoch++
				np.PartitionEpoch++
				recs = append(recs, changeRecord(t.ID, np))
			}
		}
	}
	return recs
}

// electLeaderless elects a leader for every leaderless partition with a live
// ISR member (or, if allowed, a live replica).
func (s *Store) electLeaderless(im *Image) []record {
	var recs []record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				continue
			}
			if np, ok := s.elect(im, t, p, s.uncleanAllowed(t)); ok {
				recs = append(recs, changeRecord(t.ID, np))
			}
		}
	}
	return recs
}

// elect picks a leader for p among live ISR members in replica order, or
// (unclean) among live replicas, and returns the changed partition.
func (s *Store) elect(im *Image, t *Topic, p Partition, unclean bool) (Partition, bool) {
	np := p
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && im.Live(r) {
			np.Leader = r
			np.LeaderEpoch++
			np.PartitionEpoch++
			return np, true
		}
	}
	if unclean {
		for _, r := range p.Replicas {
			if im.Live(r) {
				np.Leader, np.ISR = r, []int32{r}
				np.LeaderEpoch++
				np.PartitionEpoch++
				s.opts.Logger.Warn("unclean leader election", "topic", t.Name, "partition", p.Index, "leader", r)
				return np, true
			}
		}
	}
	return p, false
}

func without(ids []int32, id int32) []int32 {
	return slices.DeleteFunc(slices.Clone(ids), func(r int32) bool { return r == id })
}

// ElectLeaders runs preferred (unclean false) or unclean leader elections
// (Kafka's ElectLeaders, KIP-460) for the given partitions, or every
// partition when parts is nil, and returns the error of each partition
// (nil = elected). With parts nil, partitions that need no election are
// left out of the result.
func (s *Store) ElectLeaders(unclean bool, parts map[string][]int32) (map[string]map[int32]error, error) {
	if s.remote(false) {
		cmd := &Command{Op: OpElectLeaders, Unclean: unclean, Partitions: parts}
		if err := s.forward(cmd); err != nil {
			return nil, err
		}
		return cmd.ElectResults, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return nil, err
	}
	im := s.image.Load()
	out := map[string]map[int32]error{}
	var recs []record
	try := func(t *Topic, p Partition, explicit bool) {
		var err error
		switch {
		case !unclean && len(p.Replicas) > 0 && p.Leader == p.Replicas[0]:
			err = newErr(ErrElectionNotNeeded, "Leader election not needed for topic partition.")
		case !unclean:
			pref := p.Replicas[0]
			if !slices.Contains(p.ISR, pref) || !im.Live(pref) {
				err = newErr(ErrPreferredLeaderNotAvailable, "Failed to elect leader for partition %s-%d under strategy PREFERRED", t.Name, p.Index)
				break
			}
			np := p
			np.Leader = pref
			np.LeaderEpoch++
			np.PartitionEpoch++
			recs = append(recs, changeRecord(t.ID, np))
		case p.Leader >= 0:
			err = newErr(ErrElectionNotNeeded, "Leader election not needed for topic partition.")
		default:
			np, ok := s.elect(im, t, p, true)
			if !ok {
				err = newErr(ErrEligibleLeadersNotAvailable, "Failed to elect leader for partition %s-%d under strategy UNCLEAN", t.Name, p.Index)
				break
			}
			recs = append(recs, changeRecord(t.ID, np))
		}
		if !explicit && errors.Is(err, ErrElectionNotNeeded) {
			return
		}
		if out[t.Name] == nil {
			out[t.Name] = map[int32]error{}
		}
		out[t.Name][p.Index] = err
	}
	if parts == nil {
		for _, name := range im.TopicNames() {
			t := im.Topics[name]
			for _, p := range t.Partitions {
				try(t, p, false)
			}
		}
	} else {
		for name, idxs := range parts {
			t := im.Topics[name]
			for _, i := range idxs {
				if t == nil || i < 0 || int(i) >= len(t.Partitions) {
					if out[name] == nil {
						out[name] = map[int32]error{}
					}
					out[name][i] = newErr(ErrUnknownTopic, "The partition %s-%d does not exist.", name, i)
					continue
				}
				try(t, t.Partitions[i], true)
			}
		}
	}
	if _, err := s.commitLocked(recs, false); err != nil {
		return nil, err
	}
	return out, nil
}

// rackAlternated orders brokers so that consecutive ones are on different
// racks where possible (Kafka's getRackAlternatedBrokerList): rack by rack,
// taking one broker of each in turn.
func rackAlternated(brokers []Broker) []Broker {
	byRack := map[string][]Broker{}
	var racks []string
	for _, b := range brokers {
		r := ""
		if b.Rack != nil {
			r = *b.Rack
		}
		if _, ok := byRack[r]; !ok {
			racks = append(racks, r)
		}
		byRack[r] = append(byRack[r], b)
	}
	if len(racks) <= 1 {
		return brokers
	}
	slices.Sort(racks)
	out := make([]Broker, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// place assigns n new partitions with rf replicas over the live brokers:
// rack-alternated, leaders rotating from a start that depends on the
// partitions already in the cluster, so that the leaders of many topics
// spread evenly.
func place(im *Image, n, rf int) [][]int32 {
	brokers := rackAlternated(im.Brokers)
	return roundRobin(brokers, im.partitions%len(brokers), n, rf)
}
