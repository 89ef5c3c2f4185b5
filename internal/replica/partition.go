package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// Role is what this broker is for a partition.
type Role int8

// Roles.
const (
	RoleNone     Role = iota // not a replica, or the partition has no leader
	RoleLeader               // this broker is the leader
	RoleFollower             // this broker fetches from the leader
)

func (r Role) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	}
	return "none"
}

// State is the metadata's view of a partition: what the controller decided.
// It mirrors Kafka's PartitionRecord / PartitionChangeRecord.
type State struct {
	Leader      int32 // -1: no leader
	LeaderEpoch int32 // bumped by every leader change
	// PartitionEpoch is bumped by every change of the partition (leader or
	// ISR); AlterPartition names the one it was based on (KIP-497), so that
	// a proposal made from an outdated ISR is refused.
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// AlterPartitionRequest is a leader's proposal of a new ISR (Kafka's
// AlterPartition request, KIP-497).
type AlterPartitionRequest struct {
	Topic          string
	Partition      int32
	LeaderID       int32
	LeaderEpoch    int32
	PartitionEpoch int32 // the State the proposal was made from
	NewISR         []int32
}

// ISRChanger commits ISR changes: the controller (later, through the raft
// quorum) or, on a single node and in static tests, the local metadata store.
// A refusal wraps ErrStaleState (stale epochs: a newer state is on its way)
// or ErrProposalRejected (not applied: an ineligible replica, an unknown
// partition); any other error leaves the outcome unknown and the proposal is
// sent again. A successful change reaches the leader as a new State (Apply),
// possibly before AlterPartition returns.
type ISRChanger interface {
	AlterPartition(ctx context.Context, req AlterPartitionRequest) error
}

// follower is what a leader knows of one follower (Kafka's Replica /
// ReplicaState).
type follower struct {
	leo                int64 // last fetch offset, durable on the follower; -1 unknown
	lastFetchMs        int64
	lastFetchLeaderEnd int64 // the leader's served end at the last fetch
	lastCaughtUpMs     int64
}

// Partition is this broker's replica of one partition. Mirrors
// kafka.cluster.Partition. Methods are safe for concurrent use.
type Partition struct {
	topic string // immutable
	index int32  // immutable
	log   *commitlog.Log
	m     *Manager

	mu sync.Mutex
	// The fields below are guarded by mu.
	role           Role
	leader         int32
	epoch          int32 // -1 before the first State
	partitionEpoch int32
	replicas       []int32
	isr            []int32
	pending        *AlterPartitionRequest // a proposal not yet answered or applied
	pendingSent    bool                   // pending was handed to the sender
	followers      map[int32]*follower    // leader only: every replica but self
	epochStart     int64                  // leader only: the LEO when this epoch began
	hw             int64
}

func newPartition(m *Manager, topic string, index int32, l *commitlog.Log) *Partition {
	p := &Partition{topic: topic, index: index, log: l, m: m, leader: -1, epoch: -1, hw: l.HighWatermark()}
	l.SetOnDurable(p.durableMoved)
	return p
}

// durableMoved is the log's onDurable hook: an fsync round raised the
// durable offset. On a leader that is LeaderDurable, run by the goroutine
// that fsynced (often a syncer worker) the moment the data is durable:
// followers waiting in a long poll get it, and the high watermark moves,
// without waiting for the produce request that appended it to be scheduled
// (or, in a request for several partitions, to finish waiting for the
// partitions before this one). On a follower it does nothing.
func (p *Partition) durableMoved() {
	p.mu.Lock()
	if p.role != RoleLeader {
		p.mu.Unlock()
		return
	}
	moved := p.maybeAdvanceHWLocked()
	p.mu.Unlock()
	p.m.dataArrived(p)
	if moved {
		p.m.hwMoved(p)
	}
}

// Topic returns the partition's topic.
func (p *Partition) Topic() string { return p.topic }

// Index returns the partition's index.
func (p *Partition) Index() int32 { return p.index }

// Log returns the local log.
func (p *Partition) Log() *commitlog.Log { return p.log }

// Snapshot is a copy of a partition's state, for tests, metrics and
// DescribeLogDirs-like tooling.
type Snapshot struct {
	Role           Role
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	PendingISR     []int32 // nil when no proposal is outstanding
	HighWatermark  int64
	LogEndOffset   int64
}

// Snapshot returns the partition's current state.
func (p *Partition) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{Role: p.role, Leader: p.leader, LeaderEpoch: p.epoch, PartitionEpoch: p.partitionEpoch,
		ISR: slices.Clone(p.isr), HighWatermark: p.hw, LogEndOffset: p.log.LogEndOffset()}
	if p.pending != nil {
		s.PendingISR = slices.Clone(p.pending.NewISR)
	}
	return s
}

// servedEnd is the end of what the leader counts as its own replica and
// serves to followers: the durable end with Kavka's default flush policy,
// the log end offset otherwise. A follower therefore never holds data the
// leader could lose in a power failure, even in the same epoch.
func (p *Partition) servedEnd() int64 {
	leo := p.log.LogEndOffset()
	if p.log.Durable() {
		return min(leo, p.log.DurableOffset())
	}
	return leo
}

// apply moves the partition to st. A State older than the one held (lower
// leader or partition epoch) is ignored. It reports whether the partition's
// leader or role changed (the manager then moves it between fetchers) and
// whether the high watermark moved.
func (p *Partition) apply(st State) (moved, hwMoved bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.LeaderEpoch < p.epoch || (st.LeaderEpoch == p.epoch && st.PartitionEpoch < p.partitionEpoch) {
		return false, false, nil
	}
	self := p.m.cfg.NodeID
	newEpoch := st.LeaderEpoch != p.epoch
	oldRole, oldLeader := p.role, p.leader
	p.replicas, p.isr = slices.Clone(st.Replicas), slices.Clone(st.ISR)
	if st.PartitionEpoch != p.partitionEpoch || newEpoch {
		p.pending, p.pendingSent = nil, false // any new state supersedes a proposal
	}
	p.epoch, p.partitionEpoch, p.leader = st.LeaderEpoch, st.PartitionEpoch, st.Leader
	now := p.m.nowMs()
	switch {
	case !slices.Contains(st.Replicas, self) || st.Leader < 0:
		p.role, p.followers = RoleNone, nil
	case st.Leader == self:
		if newEpoch || oldRole != RoleLeader {
			// Kafka's makeLeader: the new epoch starts at the log end offset,
			// which followers truncate to (KIP-101); follower states restart.
			// Unlike Kafka the epoch is not written to the epoch cache until
			// the first append does it: an entry for an epoch without data
			// would survive a later demotion and mislabel the older-epoch
			// batches this replica then fetches (leaderEndOffsetForLocked
			// adds the current epoch instead).
			p.epochStart = p.log.LogEndOffset()
			p.followers = make(map[int32]*follower, len(st.Replicas))
		}
		p.role = RoleLeader
		for _, id := range st.Replicas {
			if id == self {
				continue
			}
			if _, ok := p.followers[id]; !ok {
				f := &follower{leo: -1, lastFetchLeaderEnd: -1}
				if slices.Contains(st.ISR, id) {
					f.lastCaughtUpMs = now
				}
				p.followers[id] = f
			}
		}
		for id := range p.followers {
			if !slices.Contains(st.Replicas, id) {
				delete(p.followers, id)
			}
		}
		hwMoved = p.maybeAdvanceHWLocked()
	default:
		p.role, p.followers = RoleFollower, nil
	}
	moved = p.role != oldRole || p.leader != oldLeader || newEpoch
	if moved {
		// Rare (a leadership or epoch change) and what a lost-write
		// diagnosis starts from: who led which epoch from which offset.
		p.m.logger.Info("replica state", "topic", p.topic, "partition", p.index, "role", p.role.String(),
			"leader", p.leader, "leader_epoch", p.epoch, "partition_epoch", p.partitionEpoch,
			"isr", p.isr, "epoch_start", p.epochStart, "hw", p.hw, "log_end", p.log.LogEndOffset())
	}
	return moved, hwMoved, err
}

// maximalISRLocked is the ISR the high watermark must respect while a
// change is in flight: the committed ISR plus any replica being added
// (KIP-497). A replica being removed still counts until the removal is
// committed. p.mu must be held.
func (p *Partition) maximalISRLocked() []int32 {
	if p.pending == nil {
		return p.isr
	}
	out := slices.Clone(p.isr)
	for _, id := range p.pending.NewISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeAdvanceHWLocked moves the high watermark to the smallest durable end
// over the maximal ISR: the leader's served end and every other member's
// last fetch offset. It never moves backwards. It reports whether the high
// watermark changed. Mirrors Partition.maybeIncrementLeaderHW.
// p.mu must be held.
func (p *Partition) maybeAdvanceHWLocked() bool {
	if p.role != RoleLeader {
		return false
	}
	hw := p.servedEnd()
	self := p.m.cfg.NodeID
	for _, id := range p.maximalISRLocked() {
		if id == self {
			continue
		}
		f := p.followers[id]
		if f == nil || f.leo < 0 {
			return false // not heard from since this epoch began
		}
		hw = min(hw, f.leo)
	}
	if hw <= p.hw {
		return false
	}
	p.hw = hw
	if hw > p.log.HighWatermark() {
		// Never lower a high watermark set elsewhere (the coordinators'
		// internal-topic writes on a single node).
		p.log.SetHighWatermark(hw)
	}
	return true
}

// HighWatermark returns the partition's high watermark.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// Role returns this broker's role and the leader epoch.
func (p *Partition) Role() (Role, int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.role, p.epoch
}

// CheckLeader reports whether this broker leads the partition in a client's
// current leader epoch (-1: any), as KIP-320 fencing requires.
func (p *Partition) CheckLeader(currentEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkLeaderLocked(currentEpoch)
}

// checkLeaderLocked: p.mu must be held.
func (p *Partition) checkLeaderLocked(currentEpoch int32) error {
	switch {
	case currentEpoch >= 0 && currentEpoch < p.epoch:
		return fmt.Errorf("%w: %d < %d", ErrFencedLeaderEpoch, currentEpoch, p.epoch)
	case currentEpoch > p.epoch:
		return fmt.Errorf("%w: %d > %d", ErrUnknownLeaderEpoch, currentEpoch, p.epoch)
	case p.role != RoleLeader:
		return fmt.Errorf("%w: %s-%d (leader %d, epoch %d)", ErrNotLeader, p.topic, p.index, p.leader, p.epoch)
	}
	return nil
}

// AppendAsLeader appends a producer's batches in the current leader epoch
// with commitlog.Log.Append; see AppendWith.
func (p *Partition) AppendAsLeader(records []byte, acks int16, minISR int) (commitlog.AppendResult, int32, error) {
	var res commitlog.AppendResult
	epoch, err := p.AppendWith(acks, minISR, func(e int32) (err error) {
		res, err = p.log.Append(records, e)
		return err
	})
	return res, epoch, err
}

// AppendWith runs appendFn, which must append to the partition's log with
// the leader epoch it is given, while this broker is the leader and cannot
// stop being it. With acks=-1 it first checks min.insync.replicas against
// the committed ISR (NOT_ENOUGH_REPLICAS). It returns the epoch the batches
// were stamped with, which WaitCommitted needs. The caller then waits for
// durability (commitlog.Log.WaitDurable) and calls LeaderDurable. Mirrors
// Partition.appendRecordsToLeader.
func (p *Partition) AppendWith(acks int16, minISR int, appendFn func(leaderEpoch int32) error) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLeaderLocked(-1); err != nil {
		return -1, err
	}
	if acks == -1 && len(p.isr) < minISR {
		return -1, fmt.Errorf("%w: %s-%d has %d in sync, min.insync.replicas %d",
			ErrNotEnoughReplicas, p.topic, p.index, len(p.isr), minISR)
	}
	return p.epoch, appendFn(p.epoch)
}

// LeaderDurable tells the partition that the leader's durable end may have
// moved (after WaitDurable, or after an append to a log without the durable
// flush policy): the high watermark may advance and follower fetches waiting
// for data are woken.
func (p *Partition) LeaderDurable() {
	p.mu.Lock()
	moved := p.maybeAdvanceHWLocked()
	p.mu.Unlock()
	p.m.dataArrived(p)
	if moved {
		p.m.hwMoved(p)
	}
}

// WaitCommitted waits until the high watermark passes end (the offset after
// the last record appended in epoch), for acks=-1: nil then, unless the ISR
// is below minISR (NOT_ENOUGH_REPLICAS_AFTER_APPEND, as Kafka's
// DelayedProduce); ErrNotLeader if the leadership or epoch changed; ctx's
// error when it ends first (REQUEST_TIMED_OUT). Mirrors
// Partition.checkEnoughReplicasReachOffset.
func (p *Partition) WaitCommitted(ctx context.Context, epoch int32, end int64, minISR int) error {
	var result error
	try := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case p.role != RoleLeader || p.epoch != epoch:
			result = fmt.Errorf("%w: leadership of %s-%d changed while waiting", ErrNotLeader, p.topic, p.index)
			return true
		case p.hw >= end:
			if len(p.isr) < minISR {
				result = fmt.Errorf("%w: %s-%d has %d in sync, min.insync.replicas %d",
					ErrNotEnoughReplicasAfterAppend, p.topic, p.index, len(p.isr), minISR)
			}
			return true
		}
		return false
	}
	deadline, ok := ctx.Deadline()
	wait := 30 * time.Second
	if ok {
		wait = time.Until(deadline)
	}
	if !p.m.waits.Await(ctx, wait, []key{{p.topic, p.index}}, try) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return context.DeadlineExceeded
	}
	return result
}

// Committed reports, without waiting, what WaitCommitted would: done is
// false while the high watermark is below end.
func (p *Partition) Committed(epoch int32, end int64, minISR int) (done bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.role != RoleLeader || p.epoch != epoch:
		return true, fmt.Errorf("%w: leadership of %s-%d changed", ErrNotLeader, p.topic, p.index)
	case p.hw >= end:
		if len(p.isr) < minISR {
			return true, ErrNotEnoughReplicasAfterAppend
		}
		return true, nil
	}
	return false, nil
}

// --- leader: follower fetches ---------------------------------------------

// replicaRead is the leader's answer to one partition of a follower fetch.
type replicaRead struct {
	slice       *commitlog.Slice // nil on error or divergence
	hw          int64
	logStart    int64
	divergent   bool
	divEpoch    int32
	divEndOff   int64
	leaderEpoch int32
}

// readForFollower serves a follower's fetch: fences stale and future epochs,
// detects divergence from lastFetchedEpoch (KIP-595's DivergingEpoch, the
// Fetch form of KIP-101/279), reads whole batches up to the served end, and
// records the follower's fetch offset (its durable log end offset), which
// may expand the ISR and advance the high watermark. Mirrors
// Partition.fetchRecords and updateFollowerFetchState.
func (p *Partition) readForFollower(id int32, fetchOffset int64, currentEpoch, lastFetchedEpoch int32, maxBytes int32) (replicaRead, bool, error) {
	p.mu.Lock()
	if err := p.checkLeaderLocked(currentEpoch); err != nil {
		p.mu.Unlock()
		return replicaRead{}, false, err
	}
	if _, ok := p.followers[id]; !ok {
		p.mu.Unlock()
		return replicaRead{}, false, fmt.Errorf("%w: broker %d is not a replica of %s-%d", ErrNotLeader, id, p.topic, p.index)
	}
	epoch := p.epoch
	rr := replicaRead{leaderEpoch: epoch, logStart: p.log.LogStartOffset()}
	if lastFetchedEpoch >= 0 {
		e, end := p.leaderEndOffsetForLocked(lastFetchedEpoch)
		if e < lastFetchedEpoch || end < fetchOffset {
			rr.divergent, rr.divEpoch, rr.divEndOff, rr.hw = true, e, end, p.hw
			p.mu.Unlock()
			return rr, false, nil
		}
	}
	end := p.servedEnd()
	p.mu.Unlock()

	s, err := p.log.Read(fetchOffset, max(maxBytes, 1), end, true)
	if err != nil {
		return rr, false, err
	}
	rr.slice = s

	p.mu.Lock()
	defer p.mu.Unlock()
	rr.hw = p.hw
	if p.epoch != epoch || p.role != RoleLeader {
		return rr, false, nil // the state moved on; the next fetch will be fenced
	}
	f := p.followers[id]
	if f == nil {
		return rr, false, nil
	}
	now := p.m.nowMs()
	if fetchOffset >= end {
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, now)
	} else if fetchOffset >= f.lastFetchLeaderEnd {
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, f.lastFetchMs)
	}
	f.leo, f.lastFetchLeaderEnd, f.lastFetchMs = fetchOffset, end, now
	p.maybeExpandISRLocked(id, f)
	moved := p.maybeAdvanceHWLocked()
	rr.hw = p.hw
	return rr, moved, nil
}

// maybeExpandISRLocked proposes adding a caught-up follower to the ISR: its
// fetch offset has reached the high watermark and the start of this leader
// epoch. Mirrors Partition.maybeExpandIsr. p.mu must be held.
func (p *Partition) maybeExpandISRLocked(id int32, f *follower) {
	if p.pending != nil || slices.Contains(p.isr, id) {
		return
	}
	if f.leo >= p.hw && f.leo >= p.epochStart {
		p.m.logger.Info("expanding ISR", "topic", p.topic, "partition", p.index, "isr", p.isr, "follower", id,
			"follower_offset", f.leo, "hw", p.hw, "leader_epoch", p.epoch)
		p.proposeLocked(append(slices.Clone(p.isr), id))
	}
}

// maybeShrinkISR proposes removing the followers that have not caught up
// within replica.lag.time.max.ms. Mirrors Partition.maybeShrinkIsr.
func (p *Partition) maybeShrinkISR() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != RoleLeader || p.pending != nil {
		return
	}
	now, lag := p.m.nowMs(), p.m.cfg.ReplicaLagTimeMax.Milliseconds()
	self := p.m.cfg.NodeID
	var keep []int32
	for _, id := range p.isr {
		if id != self {
			if f := p.followers[id]; f == nil || now-f.lastCaughtUpMs > lag {
				continue
			}
		}
		keep = append(keep, id)
	}
	if len(keep) < len(p.isr) {
		p.m.logger.Info("shrinking ISR", "topic", p.topic, "partition", p.index, "isr", p.isr, "new_isr", keep,
			"hw", p.hw, "leader_epoch", p.epoch)
		p.proposeLocked(keep)
	}
}

// proposeLocked records an AlterPartition proposal and queues it for the
// sender. p.mu must be held.
func (p *Partition) proposeLocked(isr []int32) {
	p.pending = &AlterPartitionRequest{Topic: p.topic, Partition: p.index, LeaderID: p.m.cfg.NodeID,
		LeaderEpoch: p.epoch, PartitionEpoch: p.partitionEpoch, NewISR: isr}
	p.pendingSent = false
	p.m.queueAlter(p)
}

// takeProposal hands the pending proposal to the sender once.
func (p *Partition) takeProposal() *AlterPartitionRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil || p.pendingSent {
		return nil
	}
	p.pendingSent = true
	r := *p.pending
	r.NewISR = slices.Clone(r.NewISR)
	return &r
}

// proposalFailed drops a proposal the controller rejected without applying
// it, so that a later check can make a new one.
func (p *Partition) proposalFailed(req *AlterPartitionRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isPendingLocked(req) {
		p.pending, p.pendingSent = nil, false
	}
}

// proposalUnanswered marks a proposal whose outcome is unknown (a timeout, a
// lost connection) for sending again. It stays in the maximal ISR meanwhile:
// the controller may have committed it, and the high watermark must then
// already respect the new ISR (Kafka keeps its PendingExpandIsr state and
// retries the same way). It reports whether req is still pending.
func (p *Partition) proposalUnanswered(req *AlterPartitionRequest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isPendingLocked(req) {
		return false
	}
	p.pendingSent = false
	return true
}

// isPendingLocked reports whether req is the pending proposal. p.mu must be
// held.
func (p *Partition) isPendingLocked(req *AlterPartitionRequest) bool {
	return p.pending != nil && p.pending.LeaderEpoch == req.LeaderEpoch && p.pending.PartitionEpoch == req.PartitionEpoch &&
		slices.Equal(p.pending.NewISR, req.NewISR)
}

// --- follower --------------------------------------------------------------

// fetchPosition is what a follower asks its leader for.
type fetchPosition struct {
	offset           int64
	currentEpoch     int32
	lastFetchedEpoch int32
}

// followerPosition returns the next fetch of this follower from source,
// after making everything it holds durable (so the fetch offset the leader
// records is durable here). ok is false when the partition no longer
// follows source.
func (p *Partition) followerPosition(ctx context.Context, source int32) (fetchPosition, bool, error) {
	p.mu.Lock()
	if p.role != RoleFollower || p.leader != source {
		p.mu.Unlock()
		return fetchPosition{}, false, nil
	}
	epoch := p.epoch
	p.mu.Unlock()
	leo := p.log.LogEndOffset()
	if p.log.Durable() && leo > 0 && p.log.DurableOffset() < leo {
		if err := p.log.WaitDurable(ctx, leo-1); err != nil && !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
			return fetchPosition{}, false, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != RoleFollower || p.leader != source || p.epoch != epoch {
		return fetchPosition{}, false, nil
	}
	leo = p.log.LogEndOffset()
	if p.log.Durable() && p.log.DurableOffset() < leo {
		return fetchPosition{}, false, nil // appended meanwhile? never: only this fetcher appends
	}
	return fetchPosition{offset: leo, currentEpoch: p.epoch, lastFetchedEpoch: lastEpochWithData(p.log)}, true, nil
}

// lastEpochWithData is the epoch of the last batch in the log: the newest
// epoch-cache entry that starts below the log end offset (an entry at the
// log end offset was assigned by a leadership that wrote nothing).
func lastEpochWithData(l *commitlog.Log) int32 {
	leo := l.LogEndOffset()
	es := l.LeaderEpochs().Entries()
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].StartOffset < leo {
			return es[i].Epoch
		}
	}
	return -1
}

// appendFromLeader appends what the leader sent for pos, if the partition
// is still in the state pos was taken in, and takes the leader's high
// watermark (bounded by the local log end). Mirrors
// Partition.appendRecordsToFollowerOrFutureReplica.
func (p *Partition) appendFromLeader(source int32, pos fetchPosition, records []byte, leaderHW int64) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != RoleFollower || p.leader != source || p.epoch != pos.currentEpoch || p.log.LogEndOffset() != pos.offset {
		return false, nil
	}
	if len(records) >= 8 {
		// After startAtLeaderStart the leader's first batch may begin below
		// its log start offset: an empty log restarts at the batch's base
		// (Kafka's UnexpectedAppendOffsetException handling).
		if base := int64(binary.BigEndian.Uint64(records)); base < pos.offset && p.log.LogStartOffset() == pos.offset {
			p.m.logger.Info("empty follower log restarts at the leader's first batch", "topic", p.topic, "partition", p.index,
				"log_end", pos.offset, "base", base, "leader", source, "leader_epoch", p.epoch)
			if err := p.log.TruncateFullyAndStartAt(base); err != nil {
				return false, fmt.Errorf("start %s-%d at %d: %w", p.topic, p.index, base, err)
			}
			p.hw = min(p.hw, base)
		}
	}
	if len(records) > 0 {
		if _, err := p.log.AppendReplicated(records); err != nil {
			return false, fmt.Errorf("append replicated %s-%d at %d: %w", p.topic, p.index, pos.offset, err)
		}
	}
	hwMoved := false
	if hw := min(leaderHW, p.log.LogEndOffset()); hw > p.hw {
		p.hw, hwMoved = hw, true
		p.log.SetHighWatermark(hw)
	}
	return hwMoved, nil
}

// truncateDiverging cuts the log where it diverges from the leader's:
// the leader said its log ends epoch divEpoch at divEnd, so everything at or
// after min(divEnd, our end of divEpoch) goes. Mirrors
// AbstractFetcherThread.truncateOnFetchResponse (KIP-279's rules).
func (p *Partition) truncateDiverging(source int32, pos fetchPosition, divEpoch int32, divEnd int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != RoleFollower || p.leader != source || p.epoch != pos.currentEpoch || p.log.LogEndOffset() != pos.offset {
		return -1, nil
	}
	leo := p.log.LogEndOffset()
	var target int64
	switch {
	case divEpoch < 0 || divEnd < 0:
		// The leader knows no epoch at or below ours: keep what is
		// committed, as Kafka does for an undefined epoch.
		target = min(p.hw, leo)
	default:
		fe, fend := p.log.LeaderEpochs().EndOffsetFor(divEpoch)
		if fe < 0 {
			target = min(divEnd, leo)
		} else {
			target = min(divEnd, fend, leo)
		}
	}
	// Every truncation is logged: an acknowledged write that went missing
	// is cut here or nowhere (docs/reliability.md, the F19 lost record).
	args := []any{"topic", p.topic, "partition", p.index, "target", target, "log_end", leo, "hw", p.hw,
		"diverging_epoch", divEpoch, "diverging_end", divEnd, "last_fetched_epoch", pos.lastFetchedEpoch,
		"leader", source, "leader_epoch", p.epoch}
	if target < p.hw {
		p.m.logger.Warn("truncating below the high watermark", args...)
	} else {
		p.m.logger.Info("truncating diverging log", args...)
	}
	p.m.truncated(p, target, p.hw)
	if err := p.log.Truncate(target); err != nil {
		return -1, fmt.Errorf("truncate %s-%d to %d: %w", p.topic, p.index, target, err)
	}
	p.hw = min(p.hw, p.log.LogEndOffset())
	return target, nil
}

// startAtLeaderStart empties the follower's log and restarts it at the
// leader's log start offset, when the follower's log end is below it
// (retention or DeleteRecords on the leader removed what it would fetch
// next): it cannot catch up by fetching. Mirrors
// AbstractFetcherThread.handleOffsetOutOfRange (truncateFullyAndStartAt).
func (p *Partition) startAtLeaderStart(source int32, pos fetchPosition, leaderStart int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != RoleFollower || p.leader != source || p.epoch != pos.currentEpoch || p.log.LogEndOffset() != pos.offset {
		return nil
	}
	if leaderStart <= pos.offset {
		return nil
	}
	p.m.logger.Info("follower behind the leader's log start: restarting there", "topic", p.topic, "partition", p.index,
		"log_end", pos.offset, "leader_log_start", leaderStart, "leader", source)
	if err := p.log.TruncateFullyAndStartAt(leaderStart); err != nil {
		return fmt.Errorf("start %s-%d at %d: %w", p.topic, p.index, leaderStart, err)
	}
	p.hw = leaderStart
	return nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch on the leader (KIP-101,
// KIP-279): the largest epoch at or below requested and the offset where the
// next one starts (the log end offset for the current epoch); (-1, -1) when
// unknown.
func (p *Partition) EndOffsetForEpoch(requested int32) (int32, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaderEndOffsetForLocked(requested)
}

// leaderEndOffsetForLocked is the epoch cache's answer with the current
// leader epoch added at its start offset when no append has recorded it yet.
// Mirrors LeaderEpochFileCache.endOffsetFor. p.mu must be held.
func (p *Partition) leaderEndOffsetForLocked(requested int32) (int32, int64) {
	es := p.log.LeaderEpochs().Entries()
	if p.role == RoleLeader && (len(es) == 0 || es[len(es)-1].Epoch < p.epoch) {
		es = append(es, commitlog.EpochEntry{Epoch: p.epoch, StartOffset: p.epochStart})
	}
	return endOffsetFor(es, requested, p.log.LogEndOffset())
}

func endOffsetFor(es []commitlog.EpochEntry, requested int32, leo int64) (int32, int64) {
	n := len(es)
	switch {
	case requested < 0 || n == 0:
		return -1, -1
	case es[n-1].Epoch == requested:
		return requested, leo
	}
	hi := sort.Search(n, func(i int) bool { return es[i].Epoch > requested })
	switch hi {
	case n:
		return -1, -1
	case 0:
		return requested, es[0].StartOffset
	}
	return es[hi-1].Epoch, es[hi].StartOffset
}
