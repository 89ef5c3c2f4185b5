package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/coordinator"
)

// Storage opens the partitions of __consumer_offsets. The server implements
// it over the commit log: OpenPartition creates the topic (compacted,
// Config.NumPartitions partitions) if it does not exist yet, as Kafka does
// on the first FindCoordinator, and returns the partition's log.
type Storage interface {
	OpenPartition(ctx context.Context, partition int32) (coordinator.Log, error)
}

// Coordinator is the group coordinator of one broker. Its methods are safe
// for concurrent use; each blocks until its answer is known (a JoinGroup
// until the rebalance completes, a commit until it is durable), ctx is done,
// or a bound derived from the request's own timeouts passes.
type Coordinator struct {
	cfg     Config
	clock   clock.Clock
	storage Storage
	log     *slog.Logger
	shards  *coordinator.Shards[*shard]
}

// NewCoordinator returns a coordinator over storage. It starts nothing:
// Run drives its timeouts.
func NewCoordinator(cfg Config, clk clock.Clock, storage Storage, logger *slog.Logger) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("group coordinator config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, clock: clk, storage: storage, log: logger}
	c.shards = coordinator.NewShards(TopicName, cfg.NumPartitions, func() *shard { return &shard{c: c} })
	return c, nil
}

// Config returns the validated configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// shard is the state of one partition of __consumer_offsets.
//
// The Slot's lock guards everything below and orders appends to the log: a
// state change and the append of its records happen under one critical
// section, so the log order is the order of changes. Durability waits
// happen after the lock is released, so commits to one shard share fsyncs.
type shard struct {
	coordinator.Slot
	c *Coordinator

	groups      map[string]*Group // nil until loaded
	lastExpired time.Time
	txnPending  txnOffsets // TxnOffsetCommit offsets until their marker (txn.go)
}

// PartitionFor returns the partition of __consumer_offsets that owns group.
func (c *Coordinator) PartitionFor(group string) int32 {
	return c.shards.PartitionFor(group)
}

func (c *Coordinator) shardFor(group string) *shard { return c.shards.For(group) }

// LoadPartition loads the shard of partition p of __consumer_offsets, as
// Kafka does when this broker becomes the partition's leader.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32) error {
	return c.shards.Load(ctx, p)
}

// Load makes sure the shard that owns group is loaded: the topic exists and
// its partition has been replayed. FindCoordinator calls it, so that a client
// learns about the coordinator only once it can serve.
func (c *Coordinator) Load(ctx context.Context, group string) error {
	return c.shards.Load(ctx, c.PartitionFor(group))
}

// Load implements coordinator.Shard: it opens the partition and replays
// it, transactional offsets included. OpenPartition answers
// ErrNotCoordinator unless this broker leads the partition.
func (s *shard) Load(ctx context.Context) (coordinator.Log, error) {
	l, err := s.c.storage.OpenPartition(ctx, s.Partition())
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	s.groups = make(map[string]*Group)
	s.txnPending = nil
	now := s.c.clock.Now()
	if tl, ok := l.(coordinator.TxnLog); ok {
		err = tl.ReplayTxn(ctx, func(off int64, r coordinator.Record, b coordinator.Batch) error {
			var rerr error
			if b.Transactional {
				rerr = s.replayTxnLocked(r, b, now)
			} else {
				rerr = s.replayLocked(r, now)
			}
			if err := rerr; err != nil {
				return fmt.Errorf("offset %d: %w", off, err)
			}
			return nil
		})
	} else {
		err = l.Replay(ctx, func(off int64, r coordinator.Record) error {
			if err := s.replayLocked(r, now); err != nil {
				return fmt.Errorf("offset %d: %w", off, err)
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	s.finishLoadLocked(now)
	s.lastExpired = now
	return l, nil
}

// Unload implements coordinator.Shard: it drops the in-memory state, so
// that the next request reloads it from what the log holds.
func (s *shard) Unload() {
	s.groups = nil
	s.txnPending = nil
}

// groupLocked returns group id, creating it Empty. The shard must be locked.
func (s *shard) groupLocked(id string, now time.Time) *Group {
	g := s.groups[id]
	if g == nil {
		g = newGroup(id, now)
		s.groups[id] = g
	}
	return g
}

// maybeForgetLocked removes a group that holds nothing: no members, no
// offsets, no generation. Such a group was created by a request that then
// failed, and Kafka would not have it either. The shard must be locked.
func (s *shard) maybeForgetLocked(g *Group) {
	if g.state == Empty && g.consumer == nil && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.generation == 0 && g.protocolType == "" {
		delete(s.groups, g.id)
	}
}

// run applies op to the shard's state under its lock, appends the records
// it produced, then (lock released) waits until they are durable and sends
// the replies op queued. An error from op is returned as is; an append or
// durability failure becomes ErrNotCoordinator in the replies, and the shard
// reloads from its log on the next request.
func (s *shard) run(ctx context.Context, op func(now time.Time, eff *effects) error) error {
	var eff effects
	s.Lock()
	if err := s.LoadLocked(ctx); err != nil {
		s.Unlock()
		return err
	}
	err := op(s.c.clock.Now(), &eff)
	log := s.Log()
	last := int64(-1)
	var durErr error
	if len(eff.records) > 0 {
		if last, durErr = log.Append(eff.records); durErr != nil {
			s.UnloadLocked()
			durErr = s.writeFailed(durErr)
		}
	}
	s.Unlock()

	if durErr == nil && last >= 0 {
		durErr = s.waitDurable(ctx, log, last)
	}
	for _, f := range eff.replies {
		f(durErr)
	}
	return err
}

// waitDurable waits until log holds offset durably. On failure the shard
// unloads if it is still loaded from log (unless ctx ended: the log may be
// fine), and the error wraps ErrNotCoordinator. The shard must not be
// locked.
func (s *shard) waitDurable(ctx context.Context, log coordinator.Log, offset int64) error {
	err := log.WaitDurable(ctx, offset)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		s.Lock()
		if s.Log() == log {
			s.UnloadLocked()
		}
		s.Unlock()
	}
	return s.writeFailed(err)
}

// writeFailed logs a failed write to the shard's log and returns it as
// ErrNotCoordinator.
func (s *shard) writeFailed(err error) error {
	s.c.log.Warn("group coordinator write failed", "partition", s.Partition(), "err", err)
	return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
}

// await waits for the one reply on ch, for at most bound.
func await[T any](ctx context.Context, ch <-chan T, bound time.Duration) (T, error) {
	t := time.NewTimer(bound)
	defer t.Stop()
	var zero T
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-t.C:
		return zero, ErrRequestTimedOut
	}
}

// once makes a reply channel and a sender that never blocks.
func once[T any]() (chan T, func(T)) {
	ch := make(chan T, 1)
	return ch, func(v T) {
		select {
		case ch <- v:
		default: // a second reply is a BUG upstream, but never worth blocking the shard
		}
	}
}

// waitBound is how long a request may wait for a rebalance phase: the phase
// deadlines end it well before, unless the ticker stopped.
func (c *Coordinator) waitBound(rebalanceTimeout time.Duration) time.Duration {
	return c.cfg.InitialRebalanceDelay + rebalanceTimeout + 2*c.cfg.TickInterval + 5*time.Second
}

// JoinGroup joins a member to a group and waits for the rebalance to
// complete.
func (c *Coordinator) JoinGroup(ctx context.Context, req JoinRequest) JoinResult {
	ch, reply := once[JoinResult]()
	s := c.shardFor(req.Group)
	err := s.run(ctx, func(now time.Time, eff *effects) error { return s.join(now, eff, req, reply) })
	if err != nil {
		return JoinResult{Err: err, MemberID: req.MemberID}
	}
	r, err := await(ctx, ch, c.waitBound(max(req.RebalanceTimeout, req.SessionTimeout)))
	if err != nil {
		return JoinResult{Err: err, MemberID: req.MemberID}
	}
	return r
}

// SyncGroup waits for the leader's assignment and returns the member's.
func (c *Coordinator) SyncGroup(ctx context.Context, req SyncRequest) SyncResult {
	ch, reply := once[SyncResult]()
	s := c.shardFor(req.Group)
	var bound time.Duration
	err := s.run(ctx, func(now time.Time, eff *effects) error {
		if g := s.groups[req.Group]; g != nil {
			bound = g.maxRebalanceTimeout()
		}
		return s.sync(now, eff, req, reply)
	})
	if err != nil {
		return SyncResult{Err: err}
	}
	r, err := await(ctx, ch, c.waitBound(bound))
	if err != nil {
		return SyncResult{Err: err}
	}
	return r
}

// Heartbeat keeps a member alive and tells it whether to rejoin.
func (c *Coordinator) Heartbeat(ctx context.Context, req HeartbeatRequest) error {
	s := c.shardFor(req.Group)
	return s.run(ctx, func(now time.Time, _ *effects) error { return s.heartbeat(now, req) })
}

// LeaveGroup removes members; the result has one error per member.
func (c *Coordinator) LeaveGroup(ctx context.Context, group string, members []LeaveMember) ([]error, error) {
	s := c.shardFor(group)
	var errs []error
	err := s.run(ctx, func(now time.Time, eff *effects) error {
		var err error
		errs, err = s.leave(now, eff, group, members)
		return err
	})
	return errs, err
}

// CommitOffsets stores offsets durably and returns an error per partition.
func (c *Coordinator) CommitOffsets(ctx context.Context, req CommitRequest) (map[TopicPartition]error, error) {
	ch, reply := once[map[TopicPartition]error]()
	s := c.shardFor(req.Group)
	err := s.run(ctx, func(now time.Time, eff *effects) error { return s.commit(now, eff, req, reply) })
	if err != nil {
		return nil, err
	}
	select { // run has sent the reply already: replies go out before it returns
	case r := <-ch:
		return r, nil
	default:
		panic("BUG: commit accepted without a reply")
	}
}

// FetchOffsets returns the committed offsets of group for topics (nil: all
// topics). A partition without a commit is absent from the result.
func (c *Coordinator) FetchOffsets(ctx context.Context, group string, topics map[string][]int32) (map[TopicPartition]Offset, error) {
	s := c.shardFor(group)
	var out map[TopicPartition]Offset
	err := s.run(ctx, func(time.Time, *effects) error {
		out = s.fetchOffsets(group, topics)
		return nil
	})
	return out, err
}

// DeleteGroup deletes an empty group and its offsets.
func (c *Coordinator) DeleteGroup(ctx context.Context, group string) error {
	if group == "" {
		return ErrInvalidGroupID
	}
	s := c.shardFor(group)
	var durErr error
	err := s.run(ctx, func(now time.Time, eff *effects) error {
		eff.reply(func(err error) { durErr = err })
		return s.deleteGroup(now, eff, group)
	})
	return errors.Join(err, durErr)
}

// DeleteOffsets deletes the committed offsets of partitions the group does
// not subscribe to; it returns an error per partition.
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, tps []TopicPartition) (map[TopicPartition]error, error) {
	s := c.shardFor(group)
	var errs map[TopicPartition]error
	var durErr error
	err := s.run(ctx, func(_ time.Time, eff *effects) error {
		eff.reply(func(err error) { durErr = err })
		var err error
		errs, err = s.deleteOffsets(eff, group, tps)
		return err
	})
	if err != nil {
		return nil, err
	}
	if durErr != nil {
		return nil, durErr
	}
	return errs, nil
}

// DescribeGroup describes a group; an unknown group is reported Dead, as
// Kafka does.
func (c *Coordinator) DescribeGroup(ctx context.Context, group string) (Summary, error) {
	s := c.shardFor(group)
	sum := Summary{Group: group, State: Dead}
	err := s.run(ctx, func(time.Time, *effects) error {
		if g := s.groups[group]; g != nil {
			sum = g.summary()
		}
		return nil
	})
	return sum, err
}

// ListGroups lists the groups of every partition, loading them all. A
// partition that fails to load is skipped and reported in the error, so
// that the caller can answer with COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) ListGroups(ctx context.Context) ([]Listing, error) {
	var out []Listing
	err := c.shards.Each(ctx, func(s *shard) {
		for _, g := range s.sortedGroups() {
			l := Listing{Group: g.id, ProtocolType: g.protocolType, State: g.state, Type: "classic"}
			if g.consumer != nil {
				l.Type = "consumer"
			}
			out = append(out, l)
		}
	})
	return out, err
}

// Tick fires every deadline that has passed by the clock's now: session
// timeouts, rebalance and sync timeouts, offset retention. Run calls it
// every TickInterval; tests on a fake clock call it directly.
func (c *Coordinator) Tick(ctx context.Context) {
	for _, s := range c.shards.Loaded() {
		_ = s.run(ctx, func(now time.Time, eff *effects) error {
			for _, g := range s.sortedGroups() {
				if g.consumer != nil {
					g.consumerTick(now, &c.cfg, eff)
					continue
				}
				g.tick(now, &c.cfg, eff)
			}
			if !now.Before(s.lastExpired.Add(c.cfg.OffsetsRetentionCheckInterval)) {
				s.lastExpired = now
				s.expireOffsets(now, eff)
			}
			return nil
		})
	}
}

// Run drives timeouts until ctx is done. It returns nil once ctx is done.
func (c *Coordinator) Run(ctx context.Context) error {
	coordinator.Every(ctx, c.cfg.TickInterval, c.Tick)
	return nil
}

// ConsumerGroupHeartbeat serves a KIP-848 heartbeat: it joins, leaves or
// keeps a member alive and returns its next assignment. The answer goes out
// once the group's changes are durable.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	ch, reply := once[ConsumerHeartbeatResult]()
	s := c.shardFor(req.Group)
	err := s.run(ctx, func(now time.Time, eff *effects) error { return s.consumerHeartbeat(now, eff, req, reply) })
	if err != nil {
		return ConsumerHeartbeatResult{Err: err}
	}
	select { // run sends the replies before it returns
	case r := <-ch:
		return r
	default:
		panic("BUG: consumer heartbeat accepted without a reply")
	}
}

// DescribeConsumerGroup describes a KIP-848 consumer group. A classic or
// unknown group is ErrGroupNotFound, as in Kafka.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, group string) (ConsumerGroupSummary, error) {
	s := c.shardFor(group)
	var sum ConsumerGroupSummary
	err := s.run(ctx, func(time.Time, *effects) error {
		g := s.groups[group]
		if g == nil || g.consumer == nil {
			return fmt.Errorf("%w: group %s is not a consumer group", ErrGroupNotFound, group)
		}
		sum = g.consumerSummary(&c.cfg)
		return nil
	})
	return sum, err
}
