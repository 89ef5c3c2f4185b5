package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/coordinator"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447), as Kafka
// does them (GroupMetadataManager.storeOffsets with a producer id,
// GroupMetadata.prepareTxnOffsetCommit / completePendingTxnOffsetCommit):
//
//   - TxnCommitOffsets writes the offsets to __consumer_offsets as one
//     transactional batch of the producer (producer id and epoch, no
//     sequence) and holds them pending in the shard: OffsetFetch does not
//     return them, and RequireStable answers UNSTABLE_OFFSET_COMMIT.
//   - The transaction coordinator writes the commit or abort marker to the
//     partition (it is part of the transaction since AddOffsetsToTxn); once
//     it is durable, CompleteTxn applies the pending offsets or drops them.
//   - Replay does the same from the log: a transactional batch's offset
//     records become pending, the producer's next marker applies or drops
//     them. A crash anywhere in between loses nothing and applies nothing
//     early.
//   - A non-transactional commit of the same partition appended after the
//     transactional one wins over it even if the marker comes later (Kafka
//     compares the records' log offsets: CommitRecordMetadataAndOffset.
//     olderThan); it drops the pending offset of that partition, live and in
//     replay alike.

// txnOffsets are the pending transactional offsets of a shard: producer id
// → group → partition.
type txnOffsets map[int64]map[string]map[TopicPartition]Offset

// TxnCommitRequest is a TxnOffsetCommit in Go types.
type TxnCommitRequest struct {
	Group, MemberID, InstanceID string
	Generation                  int32 // -1: no member check
	ProducerID                  int64
	ProducerEpoch               int16
	Offsets                     map[TopicPartition]Offset
	// Guard is the offsets partition's KIP-890 verification guard the
	// caller took before verifying the transaction with its coordinator
	// (commitlog.Log.StartTxnVerification), or
	// commitlog.NoVerificationGuard: the append is refused with
	// commitlog.ErrInvalidTxnState if a marker of the producer came in
	// between.
	Guard commitlog.VerificationGuard
}

// TxnCommitOffsets checks a TxnOffsetCommit's member and generation as
// Kafka does (without a member id and with generation < 0 nothing is
// checked; otherwise the member must exist, static instance ids fence, and
// the generation must match), writes the offsets as a transactional batch
// of the producer and returns once it is durable. The offsets stay pending
// until CompleteTxn (or the marker in replay).
func (c *Coordinator) TxnCommitOffsets(ctx context.Context, req TxnCommitRequest) error {
	if req.Group == "" {
		return ErrInvalidGroupID
	}
	s := c.shardFor(req.Group)
	s.Lock()
	if err := s.LoadLocked(ctx); err != nil {
		s.Unlock()
		return err
	}
	log, ok := s.Log().(coordinator.TxnLog)
	if !ok {
		s.Unlock()
		return fmt.Errorf("%w: %s-%d cannot hold transactional records", ErrCoordinatorNotAvailable, TopicName, s.Partition())
	}
	if err := s.checkTxnMemberLocked(req); err != nil {
		s.Unlock()
		return err
	}
	now := c.clock.Now()
	tps := make([]TopicPartition, 0, len(req.Offsets))
	for tp := range req.Offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	recs := make([]coordinator.Record, 0, len(tps))
	for _, tp := range tps {
		o := req.Offsets[tp]
		o.CommitTime = now
		req.Offsets[tp] = o
		recs = append(recs, offsetRecord(req.Group, tp, o))
	}
	if len(recs) == 0 {
		s.Unlock()
		return nil
	}
	last, err := log.AppendTxn(req.ProducerID, req.ProducerEpoch, req.Guard, recs)
	if err != nil {
		s.Unlock()
		return fmt.Errorf("transactional offset commit for %s: %w", req.Group, err)
	}
	for _, tp := range tps {
		s.addTxnOffsetLocked(req.ProducerID, req.Group, tp, req.Offsets[tp])
	}
	s.Unlock()
	return s.waitDurable(ctx, log, last)
}

// checkTxnMemberLocked is GroupCoordinator.handleTxnCommitOffsets's member
// check. The shard must be locked.
func (s *shard) checkTxnMemberLocked(req TxnCommitRequest) error {
	g := s.groups[req.Group]
	if req.MemberID == "" && req.Generation < 0 {
		if g != nil && g.state == Dead {
			return ErrCoordinatorNotAvailable
		}
		return nil
	}
	if g == nil {
		return ErrIllegalGeneration
	}
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	if _, err := g.checkMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return ErrIllegalGeneration
	}
	return nil
}

// CompleteTxn applies (commit) or drops (abort) the pending transactional
// offsets of producer pid in partition p of __consumer_offsets. The caller
// has made the transaction's marker durable in that partition first. A
// shard that is not loaded is left alone: its load replays the marker.
func (c *Coordinator) CompleteTxn(p int32, pid int64, commit bool) {
	s := c.shards.Get(p)
	s.Lock()
	defer s.Unlock()
	if s.Log() == nil {
		return
	}
	s.completeTxnLocked(pid, commit, c.clock.Now())
}

func (s *shard) addTxnOffsetLocked(pid int64, group string, tp TopicPartition, o Offset) {
	if s.txnPending == nil {
		s.txnPending = make(txnOffsets)
	}
	byGroup := s.txnPending[pid]
	if byGroup == nil {
		byGroup = make(map[string]map[TopicPartition]Offset)
		s.txnPending[pid] = byGroup
	}
	m := byGroup[group]
	if m == nil {
		m = make(map[TopicPartition]Offset)
		byGroup[group] = m
	}
	m[tp] = o
}

// completeTxnLocked is the marker of pid's transaction. The shard must be locked.
func (s *shard) completeTxnLocked(pid int64, commit bool, now time.Time) {
	byGroup := s.txnPending[pid]
	delete(s.txnPending, pid)
	if !commit {
		return
	}
	for group, offs := range byGroup {
		g := s.groupLocked(group, now)
		for tp, o := range offs {
			g.offsets[tp] = o
		}
	}
}

// supersedeTxnLocked drops pending transactional offsets of group's tp: a
// non-transactional commit appended after them wins. The shard must be locked.
func (s *shard) supersedeTxnLocked(group string, tp TopicPartition) {
	for _, byGroup := range s.txnPending {
		delete(byGroup[group], tp)
	}
}

// txnPendingLocked returns the partitions of group with pending
// transactional offsets. The shard must be locked.
func (s *shard) txnPendingLocked(group string) map[TopicPartition]bool {
	var out map[TopicPartition]bool
	for _, byGroup := range s.txnPending {
		for tp := range byGroup[group] {
			if out == nil {
				out = make(map[TopicPartition]bool)
			}
			out[tp] = true
		}
	}
	return out
}

// replayTxnLocked applies one record of a transactional batch or a marker
// during load. The shard must be locked.
func (s *shard) replayTxnLocked(r coordinator.Record, b coordinator.Batch, now time.Time) error {
	if b.Marker {
		s.completeTxnLocked(b.ProducerID, b.Commit, now)
		return nil
	}
	k, o, ok, err := decodeOffsetRecord(r)
	if err != nil || !ok {
		return err // only offset commits are written transactionally
	}
	s.addTxnOffsetLocked(b.ProducerID, k.Group, TopicPartition{Topic: k.Topic, Partition: k.Partition}, o)
	return nil
}

// FetchStableOffsets is FetchOffsets for OffsetFetch with RequireStable:
// it also returns the requested (or, for topics nil, committed) partitions
// that have pending transactional offsets, which Kafka answers with
// UNSTABLE_OFFSET_COMMIT.
func (c *Coordinator) FetchStableOffsets(ctx context.Context, group string, topics map[string][]int32) (map[TopicPartition]Offset, map[TopicPartition]bool, error) {
	s := c.shardFor(group)
	var out map[TopicPartition]Offset
	var unstable map[TopicPartition]bool
	err := s.run(ctx, func(time.Time, *effects) error {
		out = s.fetchOffsets(group, topics)
		unstable = s.txnPendingLocked(group)
		return nil
	})
	return out, unstable, err
}

// decodeOffsetRecord decodes an offset commit record with a value; ok is
// false for any other record.
func decodeOffsetRecord(r coordinator.Record) (kmsg.OffsetCommitKey, Offset, bool, error) {
	var k kmsg.OffsetCommitKey
	if len(r.Key) < 2 || r.Value == nil {
		return k, Offset{}, false, nil
	}
	if v := int16(binary.BigEndian.Uint16(r.Key)); v != 0 && v != 1 {
		return k, Offset{}, false, nil
	}
	if err := k.ReadFrom(r.Key); err != nil {
		return k, Offset{}, false, fmt.Errorf("offset commit key: %w", err)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		return k, Offset{}, false, fmt.Errorf("offset commit value for %s: %w", k.Group, err)
	}
	o := Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp)}
	if v.Version >= 3 {
		o.LeaderEpoch = v.LeaderEpoch
	}
	return k, o, true, nil
}
