package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupCoordinatorFailover: a consumer group commits after every poll
// on a three-node cluster; the group coordinator's process is SIGKILLed
// halfway; the group goes on with a coordinator on another node, and every
// commit that was acknowledged is there (committed offsets never go back),
// until the whole topic is consumed and committed.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := Start(t, 3, "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500",
		"offsets.topic.num.partitions=5", "group.initial.rebalance.delay.ms=0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)
	adm := kadm.NewClient(c.Client())
	const topic, group, total = "orders", "billing", 600
	eventually(t, 30*time.Second, "create "+topic, func() error { return createTopic(ctx, adm, topic) })

	pcl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := range total {
		pcl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := pcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	ccl := c.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	acked := map[int32]int64{} // partition → highest acknowledged committed offset
	consumed := 0
	killed := int32(-1)
	poll := func() {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		fs := ccl.PollRecords(pctx, 25)
		pcancel()
		fs.EachError(func(tp string, p int32, err error) {
			if err != context.DeadlineExceeded {
				t.Logf("fetch %s-%d: %v", tp, p, err)
			}
		})
		n := fs.NumRecords()
		if n == 0 {
			return
		}
		offs := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) { offs[r.Partition] = r.Offset + 1 })
		err := ccl.CommitUncommittedOffsets(ctx)
		if err != nil {
			t.Logf("commit failed (not acknowledged): %v", err)
			return
		}
		consumed += n
		for p, o := range offs {
			acked[p] = max(acked[p], o)
		}
	}
	for consumed < total/2 {
		poll()
	}
	coord := adm.FindGroupCoordinators(ctx, group)
	cr, ok := coord[group]
	if !ok || cr.Err != nil {
		t.Fatalf("find coordinator: %+v", coord)
	}
	killed = cr.NodeID
	t.Logf("consumed %d, acked %v; killing group coordinator %d", consumed, acked, killed)
	start := time.Now()
	c.Nodes[killed-1].Kill()

	firstCommit := time.Duration(0)
	deadline := time.Now().Add(90 * time.Second)
	for !allCommitted(acked, total) && time.Now().Before(deadline) {
		before := consumed
		poll()
		if firstCommit == 0 && consumed > before {
			firstCommit = time.Since(start)
		}
	}
	t.Logf("first acknowledged commit %v after the kill", firstCommit.Round(time.Millisecond))

	// A fresh client sees the coordinator elsewhere and every acknowledged
	// commit.
	adm2 := kadm.NewClient(c.Client())
	eventually(t, 30*time.Second, "new coordinator", func() error {
		cr := adm2.FindGroupCoordinators(ctx, group)[group]
		if cr.Err != nil || cr.NodeID == killed {
			return fmt.Errorf("coordinator %d: %v", cr.NodeID, cr.Err)
		}
		return nil
	})
	var fetched kadm.OffsetResponses
	eventually(t, 30*time.Second, "fetch offsets", func() (err error) {
		fetched, err = adm2.FetchOffsets(ctx, group)
		if err == nil {
			err = fetched.Error()
		}
		return err
	})
	tds, err := adm2.ListTopicsWithInternal(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range tds["__consumer_offsets"].Partitions {
		if len(pd.Replicas) != 3 {
			t.Errorf("__consumer_offsets-%d has replicas %v, want 3 (offsets.topic.replication.factor)", pd.Partition, pd.Replicas)
		}
	}
	sum := int64(0)
	for p, want := range acked {
		got, ok := fetched.Lookup(topic, p)
		if !ok || got.At < want {
			t.Errorf("partition %d: committed %d, an acknowledged commit was %d", p, got.At, want)
		}
		sum += got.At
	}
	if sum != total {
		t.Errorf("committed offsets sum to %d, want %d (the whole topic)", sum, total)
	}
}

// allCommitted reports whether the acknowledged commits cover n records.
func allCommitted(acked map[int32]int64, n int64) bool {
	sum := int64(0)
	for _, o := range acked {
		sum += o
	}
	return sum >= n
}

// waitBrokers waits until a fresh client sees n brokers.
func waitBrokers(t *testing.T, ctx context.Context, c *Cluster, n int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d live brokers", n), func() error {
		md, err := kadm.NewClient(c.Client()).BrokerMetadata(ctx)
		if err != nil || len(md.Brokers) != n {
			return fmt.Errorf("brokers %v, %v", md.Brokers, err)
		}
		return nil
	})
}
