package streams

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer is a cooperative (KIP-429) group balancer that assigns
// whole tasks: partition p of every source topic of a sub-topology goes to
// the same member, which co-partitioned joins and shared stores need
// (Kafka Streams' StreamsPartitionAssignor does the same). Tasks stay with
// their current owner while that keeps the group balanced; a task that
// moves is first revoked from its owner, then assigned in the follow-up
// rebalance (BalancePlan.AdjustCooperative).
type taskBalancer struct {
	topicSub map[string]int // resolved source topic → sub-topology
}

func (*taskBalancer) ProtocolName() string { return "kavka-streams" }
func (*taskBalancer) IsCooperative() bool  { return true }

func (*taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	for _, t := range sortedKeys(current) {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic, op.Partitions = t, current[t]
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	return meta.AppendTo(nil)
}

func (*taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (tb *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(tb, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

type tp struct {
	topic string
	part  int32
}

// Balance implements kgo.ConsumerBalancerBalance.
func (tb *taskBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	tasks := map[TaskID][]tp{}
	for t, n := range topics {
		sub, ok := tb.topicSub[t]
		if !ok {
			continue
		}
		for p := int32(0); p < n; p++ {
			id := TaskID{sub, p}
			tasks[id] = append(tasks[id], tp{t, p})
		}
	}
	ids := make([]TaskID, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Partition != ids[j].Partition {
			return ids[i].Partition < ids[j].Partition
		}
		return ids[i].Subtopology < ids[j].Subtopology
	})
	members := b.Members()
	byID := map[string]*kmsg.JoinGroupResponseMember{}
	for i := range members {
		byID[members[i].MemberID] = &members[i]
	}
	// Current owner of each task: the member with the newest claim on any
	// of its partitions.
	owner := map[TaskID]string{}
	ownerGen := map[TaskID]int32{}
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		for _, op := range meta.OwnedPartitions {
			sub, ok := tb.topicSub[op.Topic]
			if !ok {
				continue
			}
			for _, p := range op.Partitions {
				id := TaskID{sub, p}
				if g, ok := ownerGen[id]; !ok || meta.Generation > g {
					owner[id], ownerGen[id] = m.MemberID, meta.Generation
				}
			}
		}
	})
	maxPer := (len(ids) + len(members) - 1) / max(len(members), 1)
	count := map[string]int{}
	assign := map[TaskID]string{}
	for _, id := range ids {
		if o, ok := owner[id]; ok && byID[o] != nil && count[o] < maxPer {
			assign[id] = o
			count[o]++
		}
	}
	for _, id := range ids {
		if _, ok := assign[id]; ok {
			continue
		}
		best := ""
		for _, m := range members {
			if best == "" || count[m.MemberID] < count[best] {
				best = m.MemberID
			}
		}
		assign[id] = best
		count[best]++
	}
	plan := b.NewPlan()
	for _, id := range ids {
		m := byID[assign[id]]
		for _, x := range tasks[id] {
			plan.AddPartition(m, x.topic, x.part)
		}
	}
	plan.AdjustCooperative(b)
	return plan
}
