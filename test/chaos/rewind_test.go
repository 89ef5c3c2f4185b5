package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumerNoRewindOnLeaderChange: a consumer that has read up to the
// old leader's high watermark must not be sent back when a follower whose
// high watermark lags takes over. The proxy stops the leader's fetch
// responses right after the last produce was acknowledged, so the
// followers have the records but not the final high watermark; then the
// leader is SIGKILLed and restarted before it is fenced; the controller
// moves the leadership at its re-registration. KIP-320 validation asks the new leader where the
// consumer's epoch ends; answering with the (lagging) high watermark
// instead of the epoch's end offset made kgo "detect truncation" and
// re-deliver records (nonmonotonic-poll, seen in F10 and F10b).
func TestConsumerNoRewindOnLeaderChange(t *testing.T) {
	if testing.Short() || !*soak {
		t.Skip("soak only: it has not reproduced the rewind seen in F10/F10b/F16 (a race with the new leader's high watermark)")
	}
	c := startCluster(t, 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "rewind"
	if _, err := eventually(ctx, 40*time.Second, func() error {
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
	if _, err := eventually(ctx, 30*time.Second, func() error { return c.fullISR(ctx, topic, 1) }); err != nil {
		t.Fatal(err)
	}
	leader, err := c.leader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
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
	// The last record: the leader's answers to the followers are slowed
	// down, so when it is acked the answer that carries the new high
	// watermark is still on its way; cut it off.
	for _, nd := range c.nodes {
		if int32(nd.ID) != leader {
			c.net.Set(int(leader), nd.ID, Rule{Delay: time.Second, HoldAPIKey: -1})
		}
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", n-1)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		if int32(nd.ID) != leader {
			c.net.Partition(int(leader), nd.ID)
		}
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
	deadline := time.Now().Add(20 * time.Second)
	for len(offsets) < n && time.Now().Before(deadline) {
		poll(time.Second)
	}
	if len(offsets) != n {
		t.Fatalf("read %d of %d records before the kill", len(offsets), n)
	}
	// Kill the leader and restart it before it is fenced: at its new
	// registration the controller moves the leadership to a follower
	// (epoch+1) whose high watermark lags, and the consumer validates its
	// position there (the pattern of F16 seed 1795701120300014429).
	t.Logf("killing leader %d", leader)
	c.node(leader).kill()
	c.net.Heal()
	time.Sleep(2500 * time.Millisecond)
	if err := c.node(leader).start(); err != nil {
		t.Fatal(err)
	}
	// Keep polling across the failover; nothing new is produced, so any
	// record now is a re-delivery.
	end := time.Now().Add(12 * time.Second)
	for time.Now().Before(end) {
		poll(time.Second)
	}
	nl, err := c.leader(ctx, topic, 0)
	t.Logf("leader after the restart: %d (%v)", nl, err)
	if len(offsets) != n {
		t.Errorf("consumer went back after the leader change: offsets read %v", offsets)
	}
}
