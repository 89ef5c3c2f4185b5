package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/bench"
)

// TestReplicationBenchmarks measures, on a three-process cluster on this
// machine (each process GOMAXPROCS=1, as every test of this package), the
// figures of docs/benchmarks.md "Replication": produce throughput and p99
// with RF=3 acks=all against RF=1, the time from a leader's SIGKILL to the
// first acknowledged produce on its successor, and how long 10,000 new
// partitions take to reach every broker's Metadata. It runs only with
// KAVKA_CLUSTER_BENCH=1 (a few minutes):
//
//	KAVKA_CLUSTER_BENCH=1 go test ./test/cluster -run TestReplicationBenchmarks -v -timeout 20m
func TestReplicationBenchmarks(t *testing.T) {
	if os.Getenv("KAVKA_CLUSTER_BENCH") == "" {
		t.Skip("set KAVKA_CLUSTER_BENCH=1")
	}
	dur := 15 * time.Second
	if d, err := time.ParseDuration(os.Getenv("KAVKA_CLUSTER_BENCH_DURATION")); err == nil {
		dur = d
	}
	c := Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)

	// 1. Produce: RF=1 (leaders spread over the three brokers) against RF=3
	// with acks=all (every record fsynced on three brokers before the ack).
	var rows []string
	results := map[string]*bench.Result{}
	for _, run := range []struct {
		name string
		rf   int16
		acks string
		rate float64
	}{
		{"rf1-acks1", 1, "1", 0}, {"rf1-acksall", 1, "all", 0}, {"rf3-acksall", 3, "all", 0},
		{"rf1-acksall-5k", 1, "all", 5000}, {"rf3-acksall-5k", 3, "all", 5000},
	} {
		cfg := bench.Config{Name: run.name, Mode: bench.ModeProduce, Brokers: c.Seeds(), Topic: "bench-" + run.name,
			Partitions: 6, ReplicationFactor: run.rf, RecordSize: 1024, Acks: run.acks, Producers: 2, Duration: dur, Rate: run.rate}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		res, err := bench.Run(ctx, cfg, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		results[run.name] = res
		rows = append(rows, fmt.Sprintf("| %s | %d | %s | %.0f | %.1f | %.2f | %.2f | %d |", run.name, run.rf, run.acks,
			res.RecordsPerSec, res.MBPerSec, res.Latency.P50, res.Latency.P99, res.Errors))
	}
	r1, r3 := results["rf1-acksall"], results["rf3-acksall"]
	l1, l3 := results["rf1-acksall-5k"], results["rf3-acksall-5k"]
	t.Logf("produce, 6 partitions, 1 KiB records, 2 producers, %v each:\n| run | RF | acks | records/s | MB/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|---|\n%s\nRF=3/RF=1 (acks=all): peak throughput %.2f×, p99 at peak %.2f×, p99 at 5,000 records/s %.2f×",
		dur, strings.Join(rows, "\n"), r3.RecordsPerSec/r1.RecordsPerSec, r3.Latency.P99/r1.Latency.P99, l3.Latency.P99/l1.Latency.P99)

	// 2. Leader kill → first acknowledged produce on the new leader.
	adm := kadm.NewClient(c.Client())
	eventually(t, 30*time.Second, "create failover topic", func() error {
		r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsgStr("2")}, "failover")
		if err == nil {
			err = r.Err
		}
		return err
	})
	var gaps []time.Duration
	for round := range 3 {
		p := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("failover"),
			kgo.RecordRetries(1<<30), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.MetadataMinAge(50*time.Millisecond), kgo.ProducerLinger(0))
		eventually(t, 60*time.Second, "full ISR", func() error {
			md, err := kadm.NewClient(c.Client()).Metadata(ctx, "failover")
			if err != nil {
				return err
			}
			pd := md.Topics["failover"].Partitions[0]
			if len(pd.ISR) != 3 || pd.Leader < 0 {
				return fmt.Errorf("isr %v leader %d", pd.ISR, pd.Leader)
			}
			return p.ProduceSync(ctx, kgo.StringRecord("warm")).FirstErr()
		})
		md, err := kadm.NewClient(c.Client()).Metadata(ctx, "failover")
		if err != nil {
			t.Fatal(err)
		}
		leader := md.Topics["failover"].Partitions[0].Leader
		c.Nodes[leader-1].Kill()
		killed := time.Now()
		for {
			pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
			err := p.ProduceSync(pctx, kgo.StringRecord(fmt.Sprint(round))).FirstErr()
			pcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
		}
		gap := time.Since(killed)
		gaps = append(gaps, gap)
		t.Logf("round %d: leader %d killed, first acknowledged produce after %v", round, leader, gap.Round(time.Millisecond))
		c.Nodes[leader-1].Start()
		waitBrokers(t, ctx, c, 3)
	}
	slices.Sort(gaps)
	t.Logf("leader kill → first produce (broker.session.timeout.ms=9000): median %v, min %v, max %v",
		gaps[1].Round(time.Millisecond), gaps[0].Round(time.Millisecond), gaps[2].Round(time.Millisecond))

	// 3. Metadata propagation: one CreateTopics of 10,000 partitions until
	// every broker's Metadata lists them all with a leader.
	for _, rf := range []int16{1, 3} {
		name := fmt.Sprintf("wide-rf%d", rf)
		start := time.Now()
		slow := kadm.NewClient(c.Client(kgo.RequestTimeoutOverhead(3 * time.Minute)))
		r, err := slow.CreateTopic(ctx, 10000, rf, nil, name)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		created := time.Since(start)
		var lastSeen [3]time.Duration
		for i, nd := range c.Nodes {
			cl, err := kgo.NewClient(kgo.SeedBrokers(nd.Addr), kgo.RequestTimeoutOverhead(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			eventually(t, 5*time.Minute, fmt.Sprintf("node %d lists %s", nd.ID, name), func() error {
				md, err := kadm.NewClient(cl).Metadata(ctx, name)
				if err != nil {
					return err
				}
				ps := md.Topics[name].Partitions
				if len(ps) != 10000 {
					return fmt.Errorf("%d partitions", len(ps))
				}
				for _, p := range ps {
					if p.Leader < 0 {
						return fmt.Errorf("partition %d has no leader", p.Partition)
					}
				}
				return nil
			})
			lastSeen[i] = time.Since(start)
		}
		t.Logf("10,000 partitions RF=%d: CreateTopics answered after %v; Metadata complete on brokers 1/2/3 after %v / %v / %v",
			rf, created.Round(time.Millisecond), lastSeen[0].Round(time.Millisecond), lastSeen[1].Round(time.Millisecond), lastSeen[2].Round(time.Millisecond))
		if rf == 3 {
			eventually(t, 5*time.Minute, "full ISRs", func() error {
				md, err := slow.Metadata(ctx, name)
				if err != nil {
					return err
				}
				n := 0
				for _, p := range md.Topics[name].Partitions {
					if len(p.ISR) == 3 {
						n++
					}
				}
				if n != 10000 {
					return fmt.Errorf("%d of 10000 partitions with 3 in sync", n)
				}
				return nil
			})
			t.Logf("10,000 partitions RF=3: every ISR full after %v", time.Since(start).Round(time.Millisecond))
		}
	}
}

func kmsgStr(s string) *string { return &s }
