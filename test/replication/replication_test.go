// Package replication runs three in-process brokers that share one static
// metadata store (standing in for the replicated metadata log until the raft
// controller exists) and checks ISR replication end to end with franz-go:
// acks=all produce, a leader stopped and leadership moved by a metadata
// change, the old leader back as a follower, every acknowledged record read
// back once and in order, the ISR full again, and the replicas' logs
// byte-identical up to the high watermark.
//
// Only the setup (server, metadata store) and the final log comparison use
// internal packages; the data path is the Kafka protocol.
package replication

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/server"
	"github.com/kavka-io/kavka/internal/vfs"
)

const topic = "replicated"

type cluster struct {
	t     *testing.T
	meta  *metadata.Store
	addrs map[int32]string
	dirs  map[int32]string
	run   map[int32]*server.Running
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, addrs: map[int32]string{}, dirs: map[int32]string{}, run: map[int32]*server.Running{}}
	var brokers []metadata.Broker
	for id := int32(1); id <= 3; id++ {
		port := freePort(t)
		c.addrs[id] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c.dirs[id] = t.TempDir()
		brokers = append(brokers, metadata.Broker{NodeID: id, Host: "127.0.0.1", Port: int32(port)})
	}
	var err error
	c.meta, err = metadata.Open(vfs.Default, t.TempDir(), metadata.Options{
		Self: brokers[0], Brokers: brokers[1:], ClusterID: "kavka-replication-test",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.meta.Close() })
	for id := int32(1); id <= 3; id++ {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.run {
			c.stop(id)
		}
	})
	return c
}

func (c *cluster) start(id int32) {
	cfg := config.Defaults()
	for k, v := range map[string]string{
		"node.id": strconv.Itoa(int(id)), "log.dirs": c.dirs[id], "listeners": c.addrs[id],
		"default.replication.factor": "3", "offsets.topic.replication.factor": "1",
	} {
		if err := cfg.Set(k, v); err != nil {
			c.t.Fatalf("config %s: %v", k, err)
		}
	}
	var r *server.Running
	var err error
	for range 50 { // the port of a stopped broker may take a moment to free
		if r, err = server.Start(&cfg, server.Options{Meta: c.meta, Logger: slog.New(slog.DiscardHandler)}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("start broker %d: %v", id, err)
	}
	c.run[id] = r
}

func (c *cluster) stop(id int32) {
	if err := c.run[id].Stop(30 * time.Second); err != nil {
		c.t.Errorf("stop broker %d: %v", id, err)
	}
	delete(c.run, id)
}

func (c *cluster) partition() metadata.Partition {
	return c.meta.Image().Topic(topic).Partitions[0]
}

func (c *cluster) seeds() []string {
	var out []string
	for _, a := range c.addrs {
		out = append(out, a)
	}
	return out
}

// waitFor polls cond every 50 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// produce sends n records acks=all and returns the values acknowledged.
func produce(t *testing.T, cl *kgo.Client, from, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var acked []string
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf("v%05d", i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Logf("produce %s: %v", v, err)
			continue
		}
		acked = append(acked, v)
	}
	return acked
}

func TestReplicatedFailover(t *testing.T) {
	c := newCluster(t)
	if _, err := c.meta.CreateTopic(metadata.CreateTopicRequest{
		Name: topic, Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{"min.insync.replicas": "2"},
	}, false); err != nil {
		t.Fatal(err)
	}
	p := c.partition()
	t.Logf("partition: leader %d epoch %d replicas %v isr %v", p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryTimeout(20*time.Second), kgo.MetadataMinAge(100*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	acked := produce(t, cl, 0, 200)
	if len(acked) < 200 {
		t.Fatalf("only %d of 200 acknowledged with every broker up", len(acked))
	}

	// Stop the leader; the "controller" fences it and moves leadership to
	// an in-sync follower.
	old := c.partition().Leader
	c.stop(old)
	if err := c.meta.FenceBroker(old); err != nil {
		t.Fatal(err)
	}
	p = c.partition()
	t.Logf("after fencing %d: leader %d epoch %d isr %v", old, p.Leader, p.LeaderEpoch, p.ISR)
	if p.Leader < 0 || p.Leader == old {
		t.Fatalf("no new leader: %+v", p)
	}
	acked = append(acked, produce(t, cl, 200, 200)...)
	if len(acked) < 300 {
		t.Fatalf("only %d of 400 acknowledged across the failover", len(acked))
	}

	// The old leader comes back as a follower, catches up and rejoins the ISR.
	c.start(old)
	waitFor(t, 30*time.Second, "the ISR to be full again", func() bool { return len(c.partition().ISR) == 3 })
	acked = append(acked, produce(t, cl, 400, 100)...)

	// Move leadership to the returned broker: it must hold everything.
	if err := c.meta.ElectLeader(topic, 0, old); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, produce(t, cl, 500, 100)...)

	got := consumeAll(t, c.seeds(), len(acked))
	for i, v := range acked {
		if i >= len(got) || got[i] != v {
			t.Fatalf("record %d: got %q, want %q (consumed %d, acked %d)", i, at(got, i), v, len(got), len(acked))
		}
	}
	if len(got) != len(acked) {
		t.Logf("consumed %d records, %d acknowledged (unacknowledged sends may appear once)", len(got), len(acked))
	}
	if dups := duplicates(got); len(dups) > 0 {
		t.Fatalf("duplicated values: %v", dups[:min(len(dups), 10)])
	}

	// Replicas byte-identical up to the high watermark (compared on the
	// stopped brokers' data directories).
	waitFor(t, 30*time.Second, "the ISR to be full", func() bool { return len(c.partition().ISR) == 3 })
	time.Sleep(time.Second) // let followers fetch the last high watermark
	for id := range c.run {
		c.stop(id)
	}
	compareLogs(t, c.dirs)
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<none>"
}

func duplicates(vs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if seen[v] {
			out = append(out, v)
		}
		seen[v] = true
	}
	return out
}

func consumeAll(t *testing.T, seeds []string, atLeast int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < atLeast && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	// Pick up records beyond the acknowledged ones, briefly.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	fs := cl.PollFetches(ctx2)
	fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// compareLogs checks that every broker's log of the partition holds the same
// bytes up to the smallest high watermark among them, and that this is the
// whole log of the broker with the smallest one (all caught up).
func compareLogs(t *testing.T, dirs map[int32]string) {
	t.Helper()
	var ref []byte
	var refID int32
	var ends []int64
	for _, id := range []int32{1, 2, 3} {
		l, err := commitlog.Open(vfs.Default, dirs[id]+"/"+topic+"-0", commitlog.DefaultConfig(), commitlog.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("open log of broker %d: %v", id, err)
		}
		ends = append(ends, l.LogEndOffset())
		b := readLog(t, l)
		l.Close()
		if ref == nil {
			ref, refID = b, id
			continue
		}
		if string(b) != string(ref) {
			t.Errorf("broker %d's log (%d bytes) differs from broker %d's (%d bytes)", id, len(b), refID, len(ref))
		}
	}
	if slices.Min(ends) != slices.Max(ends) {
		t.Errorf("log end offsets differ: %v", ends)
	}
	t.Logf("replicas identical: %d bytes, log end offsets %v", len(ref), ends)
}

func readLog(t *testing.T, l *commitlog.Log) []byte {
	var out []byte
	off, end := l.LogStartOffset(), l.LogEndOffset()
	for range 100_000 {
		if off >= end {
			break
		}
		s, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		if s.Len == 0 {
			break
		}
		n := len(out)
		out, err = s.ReadAll(out)
		s.Release()
		if err != nil {
			t.Fatal(err)
		}
		// Advance past the batches read: the last batch header's next offset.
		off = nextOffset(out[n:], off)
	}
	return out
}

// nextOffset returns the offset after the last batch in b (Kafka batch
// header: base offset int64, length int32, …, last offset delta at 23).
func nextOffset(b []byte, from int64) int64 {
	next := from
	for len(b) >= 61 {
		base := int64(be64(b[0:8]))
		length := int(be32(b[8:12]))
		lastDelta := int64(be32(b[23:27]))
		next = base + lastDelta + 1
		if 12+length > len(b) {
			break
		}
		b = b[12+length:]
	}
	return next
}

func be64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
