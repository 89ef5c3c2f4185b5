package group

import (
	"context"
	"time"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447). The
// transaction coordinator (internal/txn) holds the offsets until the
// transaction ends; these two hooks are all it needs from the group
// coordinator. Mirrors GroupCoordinator.handleTxnCommitOffsets (the member
// check) and the completion of pending transactional offsets on a commit
// marker.

// ValidateTxnCommit checks a TxnOffsetCommit's member and generation as
// Kafka does: without a member id and with generation < 0 nothing is
// checked; otherwise the member must exist (static instance ids fence) and
// the generation match.
func (c *Coordinator) ValidateTxnCommit(ctx context.Context, group, memberID, instanceID string, generation int32) error {
	if group == "" {
		return ErrInvalidGroupID
	}
	if memberID == "" && generation < 0 {
		return nil
	}
	s := c.shardFor(group)
	return s.run(ctx, func(time.Time, *effects) error {
		g := s.groups[group]
		if g == nil {
			return ErrIllegalGeneration
		}
		if g.state == Dead {
			return ErrCoordinatorNotAvailable
		}
		if _, err := g.checkMember(memberID, instanceID); err != nil {
			return err
		}
		if generation != g.generation {
			return ErrIllegalGeneration
		}
		return nil
	})
}

// CompleteTxnOffsets stores the offsets of a committed transaction, without
// member checks (they were made at TxnOffsetCommit), and returns once they
// are durable.
func (c *Coordinator) CompleteTxnOffsets(ctx context.Context, group string, offsets map[TopicPartition]Offset) error {
	if group == "" {
		return ErrInvalidGroupID
	}
	s := c.shardFor(group)
	var durErr error
	err := s.run(ctx, func(now time.Time, eff *effects) error {
		g := s.groupLocked(group, now)
		for tp, o := range offsets {
			o.CommitTime = now
			g.offsets[tp] = o
			eff.record(offsetRecord(g.id, tp, o))
		}
		eff.reply(func(err error) { durErr = err })
		return nil
	})
	if err != nil {
		return err
	}
	return durErr
}
