package server

// The group and transaction coordinators over replicated internal topics.
//
// A coordinator shard serves only while this broker leads its partition of
// __consumer_offsets / __transaction_state: openCoordinatorLog hands a shard
// a coordinator.ReplicatedLog bound to the leader epoch it was opened in, so
// every write is an acks=all append through the replica layer (acknowledged
// once on the whole ISR), and the shard drops itself (NOT_COORDINATOR) as
// soon as the epoch or role changes. loadLedShards loads the shards of the
// partitions this broker has just become leader of, as Kafka's coordinators
// do on a leader-and-ISR change, so that transactions left in a Prepare
// state are completed and timeouts fire without waiting for a client.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/txn"
)

// coordinatorLogWait bounds how long a shard load waits for the partition's
// leader, log and replica state to appear after the topic exists.
const coordinatorLogWait = 10 * time.Second

// openCoordinatorLog returns partition p of an internal topic as a shard's
// log, once this broker leads it. notCoordinator is the coordinator's
// NOT_COORDINATOR error: returned at once when another broker leads the
// partition. The int32 is the leader epoch (the transaction coordinator's
// coordinator epoch).
func (s *Server) openCoordinatorLog(ctx context.Context, topic string, p int32, notCoordinator error) (coordinator.Log, int32, error) {
	deadline := time.NewTimer(coordinatorLogWait)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	self := s.cfg.NodeID
	for {
		if t := s.meta.Image().Topic(topic); t != nil && int(p) < len(t.Partitions) {
			mp := &t.Partitions[p]
			switch {
			case mp.Leader >= 0 && mp.Leader != self:
				return nil, 0, fmt.Errorf("%w: %s-%d is led by broker %d", notCoordinator, topic, p, mp.Leader)
			case mp.Leader == self:
				if rp := s.replicas.Partition(topic, p); rp != nil {
					if role, epoch := rp.Role(); role == replica.RoleLeader && epoch == mp.LeaderEpoch {
						l, err := coordinator.NewReplicatedLog(rp, s.opts.Clock, func() int {
							return int(s.topicConfig(topic).MinInsyncReplicas)
						})
						if err != nil {
							return nil, 0, fmt.Errorf("%w: %w", notCoordinator, err)
						}
						return l, l.LeaderEpoch(), nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-deadline.C:
			return nil, 0, fmt.Errorf("%s-%d has no local leader replica after %v", topic, p, coordinatorLogWait)
		case <-poll.C:
		}
	}
}

// internalTopicRF is the replication factor of a new internal topic:
// offsets.topic.replication.factor (or the transaction one) capped by the
// live brokers, so that a cluster still starting, or a single node, can
// create it.
func internalTopicRF(im *metadata.Image, want int16) int16 {
	return max(min(want, int16(len(im.Brokers))), 1)
}

// ledInternalPartitions returns the partitions of topic that this broker
// leads in next but did not lead (in the same epoch) in prev.
func ledInternalPartitions(prev, next *metadata.Image, topic string, self int32) []int32 {
	t := next.Topic(topic)
	if t == nil {
		return nil
	}
	var pt *metadata.Topic
	if prev != nil {
		pt = prev.Topic(topic)
	}
	var out []int32
	for i := range t.Partitions {
		mp := &t.Partitions[i]
		if mp.Leader != self {
			continue
		}
		if pt != nil && pt.ID == t.ID && i < len(pt.Partitions) &&
			pt.Partitions[i].Leader == self && pt.Partitions[i].LeaderEpoch == mp.LeaderEpoch {
			continue
		}
		out = append(out, int32(i))
	}
	return out
}

// noteLeadership queues the internal partitions this broker has just come
// to lead for loading. Called from the metadata subscriber: it must not
// block or take coordinator locks.
func (s *Server) noteLeadership(prev, next *metadata.Image) {
	g := ledInternalPartitions(prev, next, group.TopicName, s.cfg.NodeID)
	t := ledInternalPartitions(prev, next, txn.TopicName, s.cfg.NodeID)
	if len(g) == 0 && len(t) == 0 {
		return
	}
	s.loadMu.Lock()
	for _, p := range g {
		if !slices.Contains(s.loadGroups, p) {
			s.loadGroups = append(s.loadGroups, p)
		}
	}
	for _, p := range t {
		if !slices.Contains(s.loadTxn, p) {
			s.loadTxn = append(s.loadTxn, p)
		}
	}
	s.loadMu.Unlock()
	select {
	case s.loadWake <- struct{}{}:
	default:
	}
}

// loadLedShards loads the coordinator shards of newly led partitions until
// ctx ends. A load that fails (the leadership moved on meanwhile, the
// replica is not ready) is not retried: the first request loads lazily.
func (s *Server) loadLedShards(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.loadWake:
		}
		s.loadMu.Lock()
		gs, ts := s.loadGroups, s.loadTxn
		s.loadGroups, s.loadTxn = nil, nil
		s.loadMu.Unlock()
		for _, p := range gs {
			if err := s.groups.LoadPartition(ctx, p); err != nil && ctx.Err() == nil {
				s.logger.Debug("load group coordinator shard", "partition", p, "err", err)
			}
		}
		for _, p := range ts {
			if err := s.txn.LoadPartition(ctx, p); err != nil && ctx.Err() == nil {
				s.logger.Debug("load transaction coordinator shard", "partition", p, "err", err)
			}
		}
	}
}
