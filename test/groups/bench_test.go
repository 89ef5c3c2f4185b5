package groups

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/test/harness"
)

// Benchmarks against a broker process with real franz-go clients. Each
// reports figures to compare within one run (docs/benchmarks.md):
//
//	go test ./test/groups -run - -bench . -benchtime 1x
//
// Rebalance: from the first member starting until the group is stable with
// every member owning its share, for 50 members over 500 partitions against
// the 1-member baseline. Commit: sequential OffsetCommits of one partition
// against sequential acks=all produces of one record (both wait for an
// fsync).

const benchTopic = "bench500"

func benchBroker(b *testing.B) (*harness.Broker, *kgo.Client) {
	br := harness.Start(b, harness.WithArgs(
		"--set", "group.consumer.heartbeat.interval.ms=200",
		"--set", "group.consumer.min.heartbeat.interval.ms=100",
		"--set", "group.initial.rebalance.delay.ms=0",
	))
	cl := br.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 500, 1, nil, benchTopic); err != nil {
		b.Fatal(err)
	}
	return br, cl
}

func BenchmarkRebalance(b *testing.B) {
	br, adm := benchBroker(b)
	round := 0
	for _, proto := range []string{"consumer", "classic"} {
		for _, n := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/members=%d", proto, n), func(b *testing.B) {
				for b.Loop() {
					round++
					g := fmt.Sprintf("bench-%s-%d-%d", proto, n, round)
					ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
					start := time.Now()
					var cls []*kgo.Client
					for i := range n {
						opts := []kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics(benchTopic), kgo.ClientID(fmt.Sprintf("m%02d", i)),
							kgo.HeartbeatInterval(200 * time.Millisecond)}
						if proto == "consumer" {
							opts = append(opts, kgo.ServerSideBalancer())
						}
						cl := br.Client(opts...)
						pollLoop(ctx, cl)
						cls = append(cls, cl)
					}
					if proto == "consumer" {
						waitStable848(b, adm, g, n, ctx)
					} else {
						waitStableClassic(b, kadm.NewClient(adm), g, n, ctx)
					}
					b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/rebalance")
					b.StopTimer()
					for _, cl := range cls {
						cl.Close()
					}
					cancel()
					b.StartTimer()
				}
			})
		}
	}
}

func waitStable848(b *testing.B, cl *kgo.Client, g string, n int, ctx context.Context) {
	for ctx.Err() == nil {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{g}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Groups) == 1 {
			d := resp.Groups[0]
			owned := 0
			for _, m := range d.Members {
				for _, t := range m.Assignment.TopicPartitions {
					owned += len(t.Partitions)
				}
			}
			if d.State == "Stable" && len(d.Members) == n && owned == 500 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("group %s not stable", g)
}

func waitStableClassic(b *testing.B, adm *kadm.Client, g string, n int, ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := adm.DescribeGroups(ctx, g)
		if err == nil && ds[g].State == "Stable" && len(ds[g].Members) == n {
			owned := 0
			for _, m := range ds[g].Members {
				if c, ok := m.Assigned.AsConsumer(); ok && c != nil {
					for _, t := range c.Topics {
						owned += len(t.Partitions)
					}
				}
			}
			if owned == 500 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("group %s not stable", g)
}

func BenchmarkCommit(b *testing.B) {
	_, cl := benchBroker(b)
	ctx := context.Background()
	b.Run("commit", func(b *testing.B) {
		i := int64(0)
		for b.Loop() {
			i++
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = "bench-commits", -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = benchTopic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(i%500), i
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			resp, err := r.RequestWith(ctx, cl)
			if err != nil {
				b.Fatal(err)
			}
			if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("produce-baseline", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: benchTopic, Partition: int32(i % 500), Value: []byte("x")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
