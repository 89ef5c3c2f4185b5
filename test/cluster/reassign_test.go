package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReassignUnderWrites (RELIABILITY F15): while an idempotent acks=all
// producer writes, partition 0 moves from its two replicas to a set that
// drops its leader; the reassignment completes, the removed broker deletes
// its copy, and every acknowledged record is read back once, in order.
func TestReassignUnderWrites(t *testing.T) {
	c := Start(t, 3, "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)
	adm := kadm.NewClient(c.Client())
	const topic = "moving"
	eventually(t, 30*time.Second, "create", func() error {
		r, err := adm.CreateTopic(ctx, 1, 2, nil, topic)
		if err == nil {
			err = r.Err
		}
		return err
	})
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	before := md.Topics[topic].Partitions[0]
	// The target: the broker that is not a replica, then the follower; the
	// current leader is removed.
	var target []int32
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(before.Replicas, id) {
			target = append(target, id)
		}
	}
	for _, id := range before.Replicas {
		if id != before.Leader {
			target = append(target, id)
		}
	}
	t.Logf("replicas %v (leader %d) → %v", before.Replicas, before.Leader, target)

	p := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprint(i)
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			err := p.ProduceSync(pctx, kgo.StringRecord(v)).FirstErr()
			pcancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, v)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(time.Second)
	mu.Lock()
	t.Logf("%d records acknowledged before the reassignment", len(acked))
	mu.Unlock()
	eventually(t, 30*time.Second, "start reassignment", func() error {
		req := kadm.AlterPartitionAssignmentsReq{}
		req.Assign(topic, 0, target)
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err == nil {
			err = res[topic][0].Err
		}
		return err
	})
	eventually(t, 60*time.Second, "reassignment complete", func() error {
		md, err := kadm.NewClient(nodeClient(t, c.Nodes[target[0]-1].Addr)).Metadata(ctx, topic)
		if err != nil {
			return err
		}
		pd := md.Topics[topic].Partitions[0]
		if !slices.Equal(pd.Replicas, target) || pd.Leader < 0 || !slices.Contains(target, pd.Leader) {
			return fmt.Errorf("replicas %v leader %d isr %v", pd.Replicas, pd.Leader, pd.ISR)
		}
		return nil
	})
	mu.Lock()
	n0 := len(acked)
	mu.Unlock()
	done := time.Now()
	eventually(t, 30*time.Second, "writes go on against the new leader", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < n0+100 {
			return fmt.Errorf("%d acknowledged since the switch", len(acked)-n0)
		}
		return nil
	})
	t.Logf("100 more records acknowledged %v after the switch (kgo refreshes metadata at most every 5 s)", time.Since(done).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 10 {
		t.Fatalf("only %d records acknowledged", len(acked))
	}
	removed := before.Leader
	eventually(t, 30*time.Second, "removed replica's log deleted", func() error {
		lst, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return err
		}
		for broker, dirs := range lst {
			for _, d := range dirs {
				if _, ok := d.Topics[topic]; ok && broker == removed {
					return fmt.Errorf("broker %d still has %s", broker, topic)
				}
			}
		}
		return nil
	})

	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for len(got) < len(acked) && rctx.Err() == nil {
		cl.PollFetches(rctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	// Every acknowledged record, in produce order, each once (unacked ones
	// may appear between them, at most once).
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	j := 0
	for _, v := range got {
		if j < len(acked) && v == acked[j] {
			j++
		}
	}
	if j != len(acked) {
		t.Errorf("read %d records; only %d of %d acknowledged ones in order (first missing %s)", len(got), j, len(acked), acked[j])
	}
	for v, n := range seen {
		if n > 1 {
			t.Errorf("record %s read %d times", v, n)
		}
	}
	t.Logf("%d acknowledged, %d read back", len(acked), len(got))
}
