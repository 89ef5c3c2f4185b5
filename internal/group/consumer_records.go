package group

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// KIP-848 records in __consumer_offsets. The keys follow Kafka's layout
// (int16 key version, then int16-length strings):
//
//	key version 3: ConsumerGroupMetadataKey {group}
//	key version 5: ConsumerGroupMemberMetadataKey {group, member}
//
// The values are Kavka's own, not Kafka's schemas (kmsg does not carry the
// ConsumerGroup* record schemas): int16 value version 0, then a JSON
// document (consumerGroupValue, consumerMemberValue). Kafka writes the
// member's subscription, target assignment and current assignment as three
// records (key versions 5, 7, 8) and the target epoch as a fourth (6);
// Kavka keeps one member record with all three, written whenever any of
// them changes. A nil value is a tombstone.
const (
	consumerGroupKeyVersion  = 3
	consumerMemberKeyVersion = 5
	consumerValueVersion     = 0
)

type consumerGroupValue struct {
	Epoch           int32  `json:"epoch"`
	AssignmentEpoch int32  `json:"assignmentEpoch"`
	MetadataHash    uint64 `json:"metadataHash"`
	StateTimestamp  int64  `json:"stateTimestamp"`
}

type consumerMemberValue struct {
	InstanceID         string             `json:"instanceId,omitempty"`
	RackID             string             `json:"rackId,omitempty"`
	ClientID           string             `json:"clientId"`
	ClientHost         string             `json:"clientHost"`
	Topics             []string           `json:"subscribedTopicNames,omitempty"`
	Regex              string             `json:"subscribedTopicRegex,omitempty"`
	Assignor           string             `json:"serverAssignor,omitempty"`
	RebalanceTimeoutMs int64              `json:"rebalanceTimeoutMs"`
	Epoch              int32              `json:"memberEpoch"`
	PrevEpoch          int32              `json:"previousMemberEpoch"`
	State              int8               `json:"state"`
	Assigned           map[string][]int32 `json:"assignedPartitions,omitempty"`
	Revoking           map[string][]int32 `json:"partitionsPendingRevocation,omitempty"`
	Target             map[string][]int32 `json:"targetAssignment,omitempty"`
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func readStr(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("truncated string length")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, fmt.Errorf("string of %d bytes in %d", n, len(b)-2)
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

func consumerGroupKey(group string) []byte {
	return appendStr(binary.BigEndian.AppendUint16(nil, consumerGroupKeyVersion), group)
}

func consumerMemberKey(group, member string) []byte {
	k := appendStr(binary.BigEndian.AppendUint16(nil, consumerMemberKeyVersion), group)
	return appendStr(k, member)
}

func jsonValue(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("BUG: marshal consumer group record: %v", err))
	}
	return append(binary.BigEndian.AppendUint16(nil, consumerValueVersion), b...)
}

func consumerGroupRecord(group string, cg *consumerGroup, stateTime time.Time) coordinator.Record {
	return coordinator.Record{Key: consumerGroupKey(group), Value: jsonValue(consumerGroupValue{
		Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, MetadataHash: cg.metaHash, StateTimestamp: stateTime.UnixMilli(),
	})}
}

func consumerGroupTombstone(group string) coordinator.Record {
	return coordinator.Record{Key: consumerGroupKey(group)}
}

func consumerMemberTombstone(group, member string) coordinator.Record {
	return coordinator.Record{Key: consumerMemberKey(group, member)}
}

func setToJSON(s partSet) map[string][]int32 {
	if len(s) == 0 {
		return nil
	}
	out := make(map[string][]int32)
	for _, t := range s.list() {
		out[hex.EncodeToString(t.TopicID[:])] = t.Partitions
	}
	return out
}

func setFromJSON(m map[string][]int32) (partSet, error) {
	s := make(partSet)
	for k, ps := range m {
		var id [16]byte
		if n, err := hex.Decode(id[:], []byte(k)); err != nil || n != 16 {
			return nil, fmt.Errorf("topic id %q", k)
		}
		for _, p := range ps {
			s[tp{id, p}] = struct{}{}
		}
	}
	return s, nil
}

func consumerMemberRecord(group string, m *cmember) coordinator.Record {
	return coordinator.Record{Key: consumerMemberKey(group, m.id), Value: jsonValue(consumerMemberValue{
		InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
		Topics: m.topics, Regex: m.regex, Assignor: m.assignor, RebalanceTimeoutMs: m.rebalanceTimeout.Milliseconds(),
		Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: int8(m.state),
		Assigned: setToJSON(m.assigned), Revoking: setToJSON(m.revoking), Target: setToJSON(m.target),
	})}
}

func decodeJSONValue(b []byte, v any) error {
	if len(b) < 2 {
		return fmt.Errorf("value of %d bytes", len(b))
	}
	if ver := binary.BigEndian.Uint16(b); ver != consumerValueVersion {
		return fmt.Errorf("value version %d", ver)
	}
	return json.Unmarshal(b[2:], v)
}

// replayConsumerLocked applies a key version 3 or 5 record. The shard must be locked.
func (s *shard) replayConsumerLocked(version int16, r coordinator.Record, now time.Time) error {
	group, rest, err := readStr(r.Key[2:])
	if err != nil {
		return fmt.Errorf("consumer group key: %w", err)
	}
	switch version {
	case consumerGroupKeyVersion:
		if r.Value == nil {
			if g := s.groups[group]; g != nil && g.consumer != nil {
				g.consumer = nil
				g.protocolType = ""
				g.setState(Empty, now)
				s.maybeForgetLocked(g)
			}
			return nil
		}
		var v consumerGroupValue
		if err := decodeJSONValue(r.Value, &v); err != nil {
			return fmt.Errorf("consumer group %s: %w", group, err)
		}
		g := s.groupLocked(group, now)
		if g.consumer == nil {
			g.consumer = newConsumerGroup()
			g.members, g.static, g.pending = map[string]*member{}, map[string]string{}, map[string]time.Time{}
			g.generation, g.protocol, g.leader = 0, "", ""
		}
		g.protocolType = "consumer"
		g.consumer.epoch, g.consumer.assignmentEpoch, g.consumer.metaHash = v.Epoch, v.AssignmentEpoch, v.MetadataHash
		if v.StateTimestamp > 0 {
			g.stateTime = time.UnixMilli(v.StateTimestamp)
		}
		return nil
	case consumerMemberKeyVersion:
		member, _, err := readStr(rest)
		if err != nil {
			return fmt.Errorf("consumer member key: %w", err)
		}
		g := s.groups[group]
		if g == nil || g.consumer == nil {
			if r.Value == nil {
				return nil
			}
			return fmt.Errorf("member %s of consumer group %s before the group record", member, group)
		}
		if r.Value == nil {
			delete(g.consumer.members, member)
			return nil
		}
		var v consumerMemberValue
		if err := decodeJSONValue(r.Value, &v); err != nil {
			return fmt.Errorf("consumer group %s member %s: %w", group, member, err)
		}
		m := &cmember{
			id: member, instanceID: v.InstanceID, rackID: v.RackID, clientID: v.ClientID, clientHost: v.ClientHost,
			topics: v.Topics, regex: v.Regex, assignor: v.Assignor,
			rebalanceTimeout: time.Duration(v.RebalanceTimeoutMs) * time.Millisecond,
			epoch:            v.Epoch, prevEpoch: v.PrevEpoch, state: memberState(v.State),
			lastHeartbeat: now, // a full session after a load, as for classic members
		}
		if m.assigned, err = setFromJSON(v.Assigned); err == nil {
			if m.revoking, err = setFromJSON(v.Revoking); err == nil {
				m.target, err = setFromJSON(v.Target)
			}
		}
		if err != nil {
			return fmt.Errorf("consumer group %s member %s: %w", group, member, err)
		}
		if m.state == memberUnrevoked {
			m.revokeDeadline = now.Add(m.rebalanceTimeout)
		}
		g.consumer.members[member] = m
		return nil
	}
	return nil
}

// finishLoadLocked rebuilds what replay does not store: partition owners and
// group states. The shard must be locked.
func (s *shard) finishLoadLocked(now time.Time) {
	for _, g := range s.groups {
		if g.consumer == nil {
			continue
		}
		cg := g.consumer
		cg.owners = make(map[tp]string)
		for _, m := range g.sortedConsumerMembers() {
			cg.addMember(m)
		}
		st := g.stateTime
		g.updateConsumerState(now)
		if len(cg.members) == 0 {
			g.stateTime = st // retention counts from when it became empty
		}
	}
}
