package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/replica"
)

// TestClusterBrokerLease: the leader of a partition is cut off from the
// controllers (its heartbeats go unanswered and no raft message reaches it,
// so its image never shows that it was fenced), while clients still reach
// it. Its lease runs out and it stops leading from the image it has: a
// produce sent to it is NOT_LEADER_OR_FOLLOWER and its Metadata names no
// leader for the partition, and acks=all produce goes on at the leader the
// controller elected. Healed, it takes its lease up again only with the
// new metadata, so it follows; nothing acknowledged is lost (RELIABILITY
// F6, docs/adr/0009-broker-lease.md).
func TestClusterBrokerLease(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	c.waitLive(1, 2, 3, 4)
	const victim = 4 // a broker-only node
	const topic = "lease"
	if _, err := c.nodes[1].Meta().CreateTopic(metadata.CreateTopicRequest{Name: topic, Partitions: -1, ReplicationFactor: -1,
		Assignment: map[int32][]int32{0: {victim, 1, 2}}, Configs: map[string]string{"min.insync.replicas": "2"}}, false); err != nil {
		t.Fatal(err)
	}
	part := func(id int32) metadata.Partition { return c.nodes[id].Meta().Image().Topic(topic).Partitions[0] }
	c.waitFor(20*time.Second, "broker 4 leading lease-0 with a full ISR", func() bool {
		p := part(1)
		return p.Leader == victim && len(p.ISR) == 3
	})
	cl, seeds := c.patientClient(t)
	produceN(t, cl, topic, 0, 10)
	c.waitFor(20*time.Second, "broker 4 leading lease-0 locally", func() bool { return leads(c.nodes[victim], topic) })
	before := part(victim)

	c.nodes[victim].quorum.cut.Store(true)
	c.waitFor(20*time.Second, "broker 4 to stop leading lease-0", func() bool { return !leads(c.nodes[victim], topic) })
	// Its image cannot have moved: the lease did it.
	if p := part(victim); p.Leader != victim || p.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("broker 4's image of lease-0 changed while cut off: leader %d epoch %d, want %d, %d", p.Leader, p.LeaderEpoch, victim, before.LeaderEpoch)
	}
	direct, err := kgo.NewClient(kgo.SeedBrokers(seeds[victim-1]))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := direct.SeedBrokers()[0]
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	resp, err := b.Request(ctx, mreq)
	if err != nil {
		t.Fatal(err)
	}
	mp := resp.(*kmsg.MetadataResponse).Topics[0].Partitions[0]
	if mp.Leader != -1 || mp.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Errorf("broker 4's Metadata of lease-0: leader %d error %d, want -1 and LEADER_NOT_AVAILABLE", mp.Leader, mp.ErrorCode)
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 0
	pp.Records = oneBatch(t, "zombie")
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := b.Request(ctx, preq)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Errorf("acks=1 produce to broker 4 without a lease: error %d, want NOT_LEADER_OR_FOLLOWER", code)
	}

	// The controller fences broker 4 and elects another leader; acks=all
	// writes go on there.
	c.waitFor(20*time.Second, "a new leader of lease-0", func() bool {
		p := part(1)
		return p.Leader != victim && p.Leader >= 0
	})
	produceN(t, cl, topic, 10, 20)

	// Healed: broker 4 catches up, follows, and is back in the ISR.
	c.nodes[victim].quorum.cut.Store(false)
	c.waitFor(30*time.Second, "broker 4 back in the ISR of lease-0", func() bool { return slices.Contains(part(1).ISR, victim) })
	if p := part(victim); p.Leader == victim || leads(c.nodes[victim], topic) {
		t.Errorf("broker 4 after the heal: its image says leader %d, its replica leads: %v", p.Leader, leads(c.nodes[victim], topic))
	}
	produceN(t, cl, topic, 30, 5)
	consumeN(t, seeds[:3], topic, 35)
}

// leads reports whether r's replica of partition 0 of topic is its leader.
func leads(r *Running, topic string) bool {
	p := r.replicas.Partition(topic, 0)
	if p == nil {
		return false
	}
	role, _ := p.Role()
	return role == replica.RoleLeader
}
