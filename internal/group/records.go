package group

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// Record formats in __consumer_offsets, as Kafka writes them
// (GroupMetadataManager / GroupCoordinatorRecordHelpers):
//
//	key version 0 or 1: OffsetCommitKey{group, topic, partition}
//	                   → OffsetCommitValue v3 {offset, leader epoch, metadata, commit timestamp}
//	key version 2:      GroupMetadataKey{group}
//	                   → GroupMetadataValue v3 {protocol type, generation, protocol, leader,
//	                      current state timestamp, members}
//
// A nil value is a tombstone. Kafka's tools (kafka-console-consumer with the
// OffsetsMessageFormatter) can read what Kavka writes.
const (
	offsetKeyVersion   = 1
	groupKeyVersion    = 2
	offsetValueVersion = 3
	groupValueVersion  = 3
)

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func offsetValue(o Offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = o.Offset
	v.LeaderEpoch = o.LeaderEpoch
	v.Metadata = o.Metadata
	v.CommitTimestamp = o.CommitTime.UnixMilli()
	return v.AppendTo(nil)
}

func offsetRecord(group string, tp TopicPartition, o Offset) coordinator.Record {
	return coordinator.Record{Key: offsetKey(group, tp), Value: offsetValue(o)}
}

func offsetTombstone(group string, tp TopicPartition) coordinator.Record {
	return coordinator.Record{Key: offsetKey(group, tp)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) coordinator.Record {
	return coordinator.Record{Key: groupKey(group)}
}

// groupRecord is the group's metadata as Kafka persists it after a
// rebalance: the generation, the protocol, and every member with its
// subscription (metadata of the selected protocol) and assignment.
func (g *Group) groupRecord() coordinator.Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.sortedMembers() {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		if m.instanceID != "" {
			mv.InstanceID = kmsg.StringPtr(m.instanceID)
		}
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		mv.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		mv.Subscription = m.metadata(g.protocol)
		mv.Assignment = m.assignment
		v.Members = append(v.Members, mv)
	}
	return coordinator.Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// replay applies one record of __consumer_offsets to the shard's groups. It
// mirrors GroupMetadataManager.doLoadGroupsAndOffsets: the last record for a
// key wins; a tombstone deletes.
func (s *shard) replayLocked(r coordinator.Record, now time.Time) error {
	if len(r.Key) < 2 {
		return fmt.Errorf("record key of %d bytes", len(r.Key))
	}
	switch version := int16(binary.BigEndian.Uint16(r.Key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if r.Value == nil {
			if g := s.groups[k.Group]; g != nil {
				delete(g.offsets, tp)
				s.maybeForgetLocked(g)
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("offset commit value for %s: %w", k.Group, err)
		}
		o := Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp)}
		if v.Version >= 3 {
			o.LeaderEpoch = v.LeaderEpoch
		}
		s.groupLocked(k.Group, now).offsets[tp] = o
		s.supersedeTxnLocked(k.Group, tp)
		return nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		if r.Value == nil {
			if g := s.groups[k.Group]; g != nil {
				fresh := newGroup(k.Group, now)
				fresh.offsets = g.offsets
				s.groups[k.Group] = fresh
				s.maybeForgetLocked(fresh)
			}
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("group metadata value for %s: %w", k.Group, err)
		}
		g := s.groupLocked(k.Group, now)
		g.consumer = nil
		g.protocolType = v.ProtocolType
		g.generation = v.Generation
		g.protocol = deref(v.Protocol)
		g.leader = deref(v.Leader)
		g.members = make(map[string]*member, len(v.Members))
		g.static = make(map[string]string)
		for _, mv := range v.Members {
			m := &member{
				id:               mv.MemberID,
				instanceID:       deref(mv.InstanceID),
				clientID:         mv.ClientID,
				clientHost:       mv.ClientHost,
				sessionTimeout:   time.Duration(mv.SessionTimeoutMillis) * time.Millisecond,
				rebalanceTimeout: time.Duration(mv.RebalanceTimeoutMillis) * time.Millisecond,
				protocols:        []Protocol{{Name: g.protocol, Metadata: mv.Subscription}},
				assignment:       mv.Assignment,
				lastHeartbeat:    now, // members get a full session after a load
			}
			if m.rebalanceTimeout < 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			g.members[m.id] = m
			if m.instanceID != "" {
				g.static[m.instanceID] = m.id
			}
		}
		if len(g.members) > 0 {
			g.state = Stable
		} else {
			g.state = Empty
		}
		g.stateTime = now
		if v.Version >= 2 && v.CurrentStateTimestamp > 0 {
			g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
		}
		return nil
	case consumerGroupKeyVersion, consumerMemberKeyVersion:
		return s.replayConsumerLocked(version, r, now)
	default:
		// Other versions are KIP-848 and share-group records this coordinator
		// does not write; skip them as an older Kafka would.
		return nil
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
