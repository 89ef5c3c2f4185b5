package metadata

import (
	"fmt"
	"slices"
)

// Partition reassignment (KIP-455, AlterPartitionReassignments and
// ListPartitionReassignments). A reassignment to target replicas T of a
// partition with replicas R makes the replicas T followed by R−T, with
// AddingReplicas T−R and RemovingReplicas R−T. The brokers of T−R create the
// log and fetch from the leader like any follower; the leader adds each to
// the ISR once caught up (AlterPartition). When every adding replica is in
// the ISR, the reassignment completes in the same change: replicas T, ISR
// ISR∩T, and a new leader (the first live member of T in the ISR) if the
// leader is being removed. A broker that is no longer a replica deletes its
// log. Cancelling reverts to R−adding (ISR∩that), electing a leader if the
// leader was an adding replica. Mirrors Kafka's ReplicationControlManager
// and PartitionReassignmentReplicas.

// Reassignment is a reassignment in progress, for ListPartitionReassignments.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Adding    []int32
	Removing  []int32
}

// Reassignments lists the reassignments in progress in im, ordered by topic
// and partition; topics nil means all.
func (im *Image) Reassignments(topics map[string][]int32) []Reassignment {
	var out []Reassignment
	add := func(t *Topic, p *Partition) {
		if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
			return
		}
		out = append(out, Reassignment{Topic: t.Name, Partition: p.Index, Replicas: slices.Clone(p.Replicas),
			Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)})
	}
	for _, name := range im.names {
		t := im.Topics[name]
		if topics == nil {
			for i := range t.Partitions {
				add(t, &t.Partitions[i])
			}
			continue
		}
		idxs, ok := topics[name]
		if !ok {
			continue
		}
		slices.Sort(idxs)
		for _, i := range slices.Compact(idxs) {
			if i >= 0 && int(i) < len(t.Partitions) {
				add(t, &t.Partitions[i])
			}
		}
	}
	return out
}

// AlterReassignments starts, replaces or (with a nil target) cancels
// partition reassignments and returns the error of each partition.
func (s *Store) AlterReassignments(reqs map[string]map[int32][]int32) (map[string]map[int32]error, error) {
	if s.remote(false) {
		cmd := &Command{Op: OpReassign, Reassign: reqs}
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
	for name, parts := range reqs {
		out[name] = map[int32]error{}
		t := im.Topics[name]
		for idx, target := range parts {
			if t == nil || idx < 0 || int(idx) >= len(t.Partitions) {
				out[name][idx] = newErr(ErrUnknownTopic, "unknown partition %s-%d", name, idx)
				continue
			}
			np, err := reassign(im, t.Partitions[idx], target)
			if err != nil {
				out[name][idx] = err
				continue
			}
			np = completeReassignment(im, np)
			recs = append(recs, changeRecord(t.ID, np))
			out[name][idx] = nil
		}
	}
	if len(recs) > 0 {
		if _, err := s.commitLocked(recs, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reassign returns p moved towards target (nil: the reassignment in
// progress cancelled). The epochs are bumped.
func reassign(im *Image, p Partition, target []int32) (Partition, error) {
	// Revert any reassignment in progress first (KIP-455: a new one
	// replaces it).
	orig := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
	inProgress := len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
	if target == nil && !inProgress {
		return p, newErr(ErrNoReassignment, "no reassignment in progress for partition %d", p.Index)
	}
	np := p
	np.PartitionEpoch++
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	if target == nil {
		target = orig
	} else {
		if len(target) == 0 {
			return p, newErr(ErrInvalidReplicaAssignment, "empty replica list for partition %d", p.Index)
		}
		for i, r := range target {
			if slices.Contains(target[:i], r) {
				return p, newErr(ErrInvalidReplicaAssignment, "duplicate replica %d in %v", r, target)
			}
			if im.quorum && im.Registration(r) == nil || !im.quorum && im.Broker(r) == nil {
				return p, newErr(ErrInvalidReplicaAssignment, "replica %d of %v is not a registered broker", r, target)
			}
		}
	}
	for _, r := range target {
		if !slices.Contains(orig, r) {
			np.AddingReplicas = append(np.AddingReplicas, r)
		}
	}
	for _, r := range orig {
		if !slices.Contains(target, r) {
			np.RemovingReplicas = append(np.RemovingReplicas, r)
		}
	}
	np.Replicas = append(slices.Clone(target), np.RemovingReplicas...)
	// Replicas being added by the replaced reassignment leave the ISR.
	np.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(np.Replicas, r) })
	if !slices.Contains(np.Replicas, np.Leader) || len(np.ISR) == 0 {
		np = electWithin(im, np)
	}
	return np, nil
}

// completeReassignment finishes p's reassignment if every adding replica
// is in the ISR and a target replica is in the ISR, else returns p as is.
func completeReassignment(im *Image, p Partition) Partition {
	if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
		return p
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.ISR, r) {
			return p
		}
	}
	target := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(target, r) })
	if len(isr) == 0 {
		return p // only removing replicas are in sync: wait
	}
	np := p
	np.Replicas, np.ISR = target, isr
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	np = electWithin(im, np) // a new leader if the leader was removed
	if np.PartitionEpoch == p.PartitionEpoch {
		np.PartitionEpoch++
	}
	return np
}

// electWithin makes the first live ISR member of p's replicas the leader
// (in a new leader epoch) if the leader is not one of them; no leader if
// none is live.
func electWithin(im *Image, p Partition) Partition {
	if slices.Contains(p.Replicas, p.Leader) && slices.Contains(p.ISR, p.Leader) {
		return p
	}
	np := p
	np.Leader = -1
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && im.Live(r) {
			np.Leader = r
			break
		}
	}
	np.LeaderEpoch++
	np.PartitionEpoch = max(np.PartitionEpoch, p.PartitionEpoch) + 1
	return np
}

// finishReassignments completes the reassignments whose adding replicas
// are all in the ISR (normally done by the AlterPartition that expands the
// ISR; this is the controller tick's safety net).
func (s *Store) finishReassignments(im *Image) []record {
	var recs []record
	for _, name := range im.names {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			if np := completeReassignment(im, p); np.PartitionEpoch != p.PartitionEpoch {
				s.opts.Logger.Info("reassignment completed", "topic", name, "partition", p.Index, "replicas", np.Replicas, "leader", np.Leader)
				recs = append(recs, changeRecord(t.ID, np))
			}
		}
	}
	return recs
}

// String describes r for logs and tools.
func (r Reassignment) String() string {
	return fmt.Sprintf("%s-%d replicas %v adding %v removing %v", r.Topic, r.Partition, r.Replicas, r.Adding, r.Removing)
}
