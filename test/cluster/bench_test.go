package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
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
//
// Knobs for iterating: KAVKA_CLUSTER_BENCH_DURATION (per produce run,
// default 15s), KAVKA_CLUSTER_BENCH_RUNS (a comma-separated subset of the
// produce runs, e.g. rf1-acksall,rf3-acksall), KAVKA_CLUSTER_BENCH_PRODUCE_ONLY=1
// (skip the failover and metadata parts) and KAVKA_CLUSTER_BENCH_PPROF=1
// (node i serves /debug/pprof on 127.0.0.1:964i, the admin listener).
func TestReplicationBenchmarks(t *testing.T) {
	if os.Getenv("KAVKA_CLUSTER_BENCH") == "" {
		t.Skip("set KAVKA_CLUSTER_BENCH=1")
	}
	dur := 15 * time.Second
	if d, err := time.ParseDuration(os.Getenv("KAVKA_CLUSTER_BENCH_DURATION")); err == nil {
		dur = d
	}
	var only []string
	if s := os.Getenv("KAVKA_CLUSTER_BENCH_RUNS"); s != "" {
		only = strings.Split(s, ",")
	}
	var extra []string
	if os.Getenv("KAVKA_CLUSTER_BENCH_PPROF") != "" {
		extra = append(extra, "admin.listener=127.0.0.1:964{id}")
	}
	c := Start(t, 3, extra...)
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
		if only != nil && !slices.Contains(only, run.name) {
			continue
		}
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
	t.Logf("produce, 6 partitions, 1 KiB records, 2 producers, %v each:\n| run | RF | acks | records/s | MB/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|---|\n%s",
		dur, strings.Join(rows, "\n"))
	if r1, r3 := results["rf1-acksall"], results["rf3-acksall"]; r1 != nil && r3 != nil {
		t.Logf("RF=3/RF=1 (acks=all): peak throughput %.2f×, p50 at peak %.2f×, p99 at peak %.2f×",
			r3.RecordsPerSec/r1.RecordsPerSec, r3.Latency.P50/r1.Latency.P50, r3.Latency.P99/r1.Latency.P99)
	}
	if l1, l3 := results["rf1-acksall-5k"], results["rf3-acksall-5k"]; l1 != nil && l3 != nil {
		t.Logf("RF=3/RF=1 (acks=all) at 5,000 records/s: p50 %.2f×, p99 %.2f×", l3.Latency.P50/l1.Latency.P50, l3.Latency.P99/l1.Latency.P99)
	}
	if os.Getenv("KAVKA_CLUSTER_BENCH_PRODUCE_ONLY") != "" {
		return
	}

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

	// 3. Metadata propagation (TestMetadataPropagationBenchmark runs it alone).
	metadataPropagation(t, ctx, c, 10000)
}

// TestMetadataPropagationBenchmark is part 3 of TestReplicationBenchmarks
// alone, on a fresh cluster: one CreateTopics of 10,000 partitions (or
// KAVKA_CLUSTER_BENCH_PARTITIONS) with RF=1, then with RF=3, until every
// broker's Metadata lists them all with a leader and every log is open
// (KAVKA_CLUSTER_BENCH_PPROF=1: node i serves /debug/pprof on
// 127.0.0.1:964i):
//
//	KAVKA_CLUSTER_BENCH=1 go test ./test/cluster -run TestMetadataPropagationBenchmark -v -timeout 20m
func TestMetadataPropagationBenchmark(t *testing.T) {
	if os.Getenv("KAVKA_CLUSTER_BENCH") == "" {
		t.Skip("set KAVKA_CLUSTER_BENCH=1")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("KAVKA_CLUSTER_BENCH_PARTITIONS")); err == nil && v > 0 {
		n = v
	}
	var extra []string
	if os.Getenv("KAVKA_CLUSTER_BENCH_PPROF") != "" {
		extra = append(extra, "admin.listener=127.0.0.1:964{id}")
	}
	c := Start(t, 3, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)
	metadataPropagation(t, ctx, c, n)
}

// metadataPropagation creates a topic of n partitions with RF=1, then one
// with RF=3, each with one CreateTopics, and logs when the answer came and
// when each broker's Metadata listed every partition with a leader (and,
// for RF=3, when every ISR was full).
func metadataPropagation(t *testing.T, ctx context.Context, c *Cluster, n int) {
	for _, rf := range []int16{1, 3} {
		name := fmt.Sprintf("wide-rf%d", rf)
		start := time.Now()
		slow := kadm.NewClient(c.Client(kgo.RequestTimeoutOverhead(3 * time.Minute)))
		r, err := slow.CreateTopic(ctx, int32(n), rf, nil, name)
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
				if len(ps) != n {
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
		t.Logf("%d partitions RF=%d: CreateTopics answered after %v; Metadata complete on brokers 1/2/3 after %v / %v / %v",
			n, rf, created.Round(time.Millisecond), lastSeen[0].Round(time.Millisecond), lastSeen[1].Round(time.Millisecond), lastSeen[2].Round(time.Millisecond))
		// The leaders' logs: ListOffsets answers for a partition once its
		// leader has created the log (brokers create logs after they
		// publish the metadata).
		// Polled every 500 ms, not 100: a ListOffsets of every partition
		// is work for brokers that are still creating logs.
		pollEvery(t, 500*time.Millisecond, 5*time.Minute, "every leader's log", func() error {
			offs, err := slow.ListEndOffsets(ctx, name)
			if err != nil {
				return err
			}
			ok := 0
			offs.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					ok++
				}
			})
			if ok != n {
				return fmt.Errorf("%d of %d partitions with a log on their leader", ok, n)
			}
			return nil
		})
		t.Logf("%d partitions RF=%d: every leader's log open after %v", n, rf, time.Since(start).Round(time.Millisecond))
		if rf == 3 {
			eventually(t, 5*time.Minute, "full ISRs", func() error {
				md, err := slow.Metadata(ctx, name)
				if err != nil {
					return err
				}
				full := 0
				for _, p := range md.Topics[name].Partitions {
					if len(p.ISR) == 3 {
						full++
					}
				}
				if full != n {
					return fmt.Errorf("%d of %d partitions with 3 in sync", full, n)
				}
				return nil
			})
			t.Logf("%d partitions RF=3: every ISR full after %v", n, time.Since(start).Round(time.Millisecond))
		}
	}
}

func kmsgStr(s string) *string { return &s }

// pollEvery is eventually with a chosen interval.
func pollEvery(t *testing.T, every, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(every)
	}
}
