package metadata

import (
	"errors"
	"fmt"
	"slices"
)

// ErrStalePartitionState: an AlterPartition proposal was made from a leader
// or partition epoch that is no longer current, or by a broker that is not
// the leader (Kafka FENCED_LEADER_EPOCH / INVALID_UPDATE_VERSION /
// NOT_LEADER_OR_FOLLOWER). The leader drops it and waits for the new state.
var ErrStalePartitionState = errors.New("metadata: stale partition state")

// ErrIneligibleReplica: a proposed ISR or leader names a replica that is not
// assigned, or a leader outside the ISR (no unclean election here)
// (Kafka INELIGIBLE_REPLICA / INVALID_REQUEST).
var ErrIneligibleReplica = errors.New("metadata: ineligible replica")

// AlterPartition commits a leader's proposal of a new ISR (Kafka's
// AlterPartition, KIP-497): the proposer must be the leader in leaderEpoch,
// and partitionEpoch the current partition epoch; the ISR must hold the
// leader and only assigned replicas. The partition epoch is bumped.
// Mirrors ReplicationControlManager.alterPartition, without the broker
// liveness check (KIP-903) that a controller with registrations adds.
func (s *Store) AlterPartition(topic string, partition, leaderID, leaderEpoch, partitionEpoch int32, isr []int32) error {
	if s.remote(false) {
		return s.forward(&Command{Op: OpAlterPartition, Topic: topic, Partition: partition, LeaderID: leaderID,
			LeaderEpoch: leaderEpoch, PartEpoch: partitionEpoch, ISR: slices.Clone(isr)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return err
	}
	t, p, err := s.partitionLocked(topic, partition)
	if err != nil {
		return err
	}
	if p.Leader != leaderID || p.LeaderEpoch != leaderEpoch || p.PartitionEpoch != partitionEpoch {
		return fmt.Errorf("%w: %s-%d proposal from %d at epochs %d/%d, current leader %d epochs %d/%d",
			ErrStalePartitionState, topic, partition, leaderID, leaderEpoch, partitionEpoch, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	}
	if !slices.Contains(isr, p.Leader) {
		return fmt.Errorf("%w: ISR %v of %s-%d lacks the leader %d", ErrIneligibleReplica, isr, topic, partition, p.Leader)
	}
	im := s.image.Load()
	for i, id := range isr {
		if !slices.Contains(p.Replicas, id) || slices.Contains(isr[:i], id) {
			return fmt.Errorf("%w: ISR %v of %s-%d (replicas %v)", ErrIneligibleReplica, isr, topic, partition, p.Replicas)
		}
		// KIP-841: a fenced or shutting-down broker may not join an ISR.
		if im.quorum && !slices.Contains(p.ISR, id) && !im.Live(id) {
			return fmt.Errorf("%w: broker %d proposed for the ISR of %s-%d is fenced or shutting down", ErrIneligibleReplica, id, topic, partition)
		}
	}
	np := *p
	np.ISR = slices.Clone(isr)
	np.PartitionEpoch++
	np = completeReassignment(im, np) // KIP-455: done once every adding replica is in sync
	_, err = s.commitLocked([]record{changeRecord(t.ID, np)}, false)
	return err
}

// ElectLeader makes leader the partition's leader in a new leader epoch. It
// must be in the ISR (unclean.leader.election.enable=false).
func (s *Store) ElectLeader(topic string, partition, leader int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return err
	}
	t, p, err := s.partitionLocked(topic, partition)
	if err != nil {
		return err
	}
	if !slices.Contains(p.ISR, leader) {
		return fmt.Errorf("%w: %d is not in the ISR %v of %s-%d", ErrIneligibleReplica, leader, p.ISR, topic, partition)
	}
	np := *p
	np.Leader = leader
	np.LeaderEpoch++
	np.PartitionEpoch++
	_, err = s.commitLocked([]record{changeRecord(t.ID, np)}, false)
	return err
}

// FenceBroker is what the controller does when a broker stops heartbeating
// (static clusters and tests do it by hand): every partition it leads gets
// the first other ISR member, in replica order, as leader in a new epoch
// (or no leader, keeping the ISR, when it was the last member, as KRaft
// does); it leaves every other ISR it is in.
func (s *Store) FenceBroker(id int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	im := s.image.Load()
	if s.replicated {
		reg, err := s.registrationLocked(im, id)
		if err != nil {
			return err
		}
		_, err = s.proposeLocked(append(s.leaveChanges(im, id, false), record{Type: recFenceBroker, BrokerID: id, BrokerEpoch: reg.Epoch}))
		return err
	}
	var recs []record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			np := p
			switch {
			case p.Leader == id:
				np.Leader = -1
				for _, r := range p.Replicas {
					if r != id && slices.Contains(p.ISR, r) {
						np.Leader = r
						break
					}
				}
				if np.Leader >= 0 {
					np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
				}
				np.LeaderEpoch++
			case slices.Contains(p.ISR, id) && len(p.ISR) > 1:
				np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
			default:
				continue
			}
			np.PartitionEpoch++
			recs = append(recs, changeRecord(t.ID, np))
		}
	}
	_, err := s.commitLocked(recs, false)
	return err
}

// UnfenceBroker gives every partition without a leader whose ISR holds id
// that broker as leader in a new epoch (the broker is back).
func (s *Store) UnfenceBroker(id int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	im := s.image.Load()
	if !s.replicated {
		_, err := s.commitLocked(s.joinChanges(im, id), false)
		return err
	}
	reg, err := s.registrationLocked(im, id)
	if err != nil {
		return err
	}
	_, err = s.proposeLocked(append([]record{{Type: recUnfenceBroker, BrokerID: id, BrokerEpoch: reg.Epoch}}, s.joinChanges(im, id)...))
	return err
}

// registrationLocked returns broker id's registration in im for a fence or
// unfence in cluster mode, once this node is the active controller. s.mu
// must be held.
func (s *Store) registrationLocked(im *Image, id int32) (*Registration, error) {
	if err := s.activeLocked(false); err != nil {
		return nil, err
	}
	reg := im.Registration(id)
	if reg == nil {
		return nil, fmt.Errorf("%w: broker %d is not registered", ErrStaleBrokerEpoch, id)
	}
	return reg, nil
}

// partitionLocked finds a partition. s.mu must be held.
func (s *Store) partitionLocked(topic string, partition int32) (*Topic, *Partition, error) {
	t := s.image.Load().Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, newErr(ErrUnknownTopic, "unknown partition %s-%d", topic, partition)
	}
	return t, &t.Partitions[partition], nil
}

// changeRecord is a PartitionRecord restating the whole partition (Kafka
// writes a PartitionChangeRecord with only the changed fields).
func changeRecord(id [16]byte, p Partition) record {
	return record{Type: recPartition, TopicID: id, Partition: p.Index, Replicas: slices.Clone(p.Replicas),
		ISR: slices.Clone(p.ISR), Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartEpoch: p.PartitionEpoch,
		Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)}
}
