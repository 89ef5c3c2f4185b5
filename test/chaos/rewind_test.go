package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerNoRewindOnLeaderChange: a consumer that has read up to the
// old leader's high watermark must not be sent back when a follower whose
// high watermark lags takes over (nonmonotonic-poll, seen in F10, F10b and
// F16). The followers get the last record but never the fetch answer that
// carries the new high watermark; the leader is killed; the proxy holds
// the surviving followers' fetches from each other, so the new leader's
// high watermark stays below the consumer's position (its ISR peer has not
// fetched in the new epoch) for as long as the test needs. kgo validates
// its position on the new leader with OffsetForLeaderEpoch (KIP-320) and
// truncates to the answer when it is below: the answer must be the epoch's
// end offset, as in Kafka, not the high watermark.
func TestConsumerNoRewindOnLeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster")
	}
	c := startCluster(t, 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "rewind"
	if _, err := eventually(ctx, 60*time.Second, func() error {
		cl, err := c.freshClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil || len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v: %v", md.Brokers, err)
		}
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": ptr("2")}, topic)
		return createErr(resp.Err, err)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := eventually(ctx, 60*time.Second, func() error { return c.fullISR(ctx, topic, 1) }); err != nil {
		t.Fatal(err)
	}
	leader, err := c.leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	var followers []int
	for _, nd := range c.nodes {
		if int32(nd.ID) != leader {
			followers = append(followers, nd.ID)
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 20
	for i := range n - 1 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Whichever follower takes over, the other one's fetches from it are
	// held: the new leader's high watermark cannot move.
	c.net.Update(followers[0], followers[1], func(r *Rule) { r.HoldAPIKey = kmsg.Fetch.Int16() })
	c.net.Update(followers[1], followers[0], func(r *Rule) { r.HoldAPIKey = kmsg.Fetch.Int16() })
	// The last record: the leader's answers to the followers are slowed
	// down, so when it is acked the answer that carries the new high
	// watermark is still on its way; cut it off.
	for _, f := range followers {
		c.net.Update(int(leader), f, func(r *Rule) { r.Delay = 2 * time.Second })
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", n-1)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, f := range followers {
		c.net.Partition(int(leader), f)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(300*time.Millisecond), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var offsets []int64
	poll := func(d time.Duration) {
		pctx, pcancel := context.WithTimeout(ctx, d)
		defer pcancel()
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) { offsets = append(offsets, r.Offset) })
	}
	for deadline := time.Now().Add(30 * time.Second); len(offsets) < n && time.Now().Before(deadline); {
		poll(time.Second)
	}
	if len(offsets) != n {
		t.Fatalf("read %d of %d records before the kill", len(offsets), n)
	}
	// Kill the leader; once it is fenced the controller moves the
	// leadership to a follower. Keep polling: the consumer moves to the new
	// leader and validates its position there.
	t.Logf("killing leader %d", leader)
	c.node(leader).kill()
	for _, f := range followers {
		c.net.Set(int(leader), f, Rule{HoldAPIKey: -1})
	}
	var newLeader int32
	if _, err := eventually(ctx, 60*time.Second, func() error {
		poll(200 * time.Millisecond)
		l, err := c.leader(ctx, topic, 0)
		if err == nil && l == leader {
			err = fmt.Errorf("leader still %d", l)
		}
		newLeader = l
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("new leader %d", newLeader)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		poll(time.Second)
	}
	// Let the new leader's high watermark move: a consumer sent back below
	// it now reads records again. Nothing new is produced, so any record is
	// a re-delivery.
	c.net.Release(followers[0], followers[1])
	c.net.Release(followers[1], followers[0])
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
		poll(time.Second)
	}
	if len(offsets) != n {
		t.Errorf("consumer went back after the leader change: offsets read %v", offsets)
	}
}
