package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/vfs"
)

// dirFault fails every write-path operation under one data directory while
// on, except the metadata log's (whose failure is another matter): a disk
// that failed under the partition logs.
type dirFault struct {
	dir string
	on  atomic.Bool
}

func (f *dirFault) Inject(op vfs.Op, path string) vfs.Fault {
	if !f.on.Load() || !strings.HasPrefix(path, f.dir) || strings.Contains(path, metadata.ClusterMetadataTopic) {
		return vfs.Fault{}
	}
	switch op {
	case vfs.OpWrite, vfs.OpSync, vfs.OpCreate, vfs.OpRename, vfs.OpTruncate, vfs.OpMkdir:
		return vfs.Fault{Err: syscall.EIO}
	}
	return vfs.Fault{}
}

func startFaulty(t *testing.T, cfg *config.Broker, f *dirFault) *Running {
	t.Helper()
	r, err := Start(cfg, Options{FS: vfs.NewFaulty(vfs.Default, f), Logger: slog.New(slog.DiscardHandler),
		LogDirProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitRestart waits (bounded) for r's Run to return ErrRestart.
func waitRestart(t *testing.T, r *Running) {
	t.Helper()
	select {
	case err := <-r.done:
		if !errors.Is(err, ErrRestart) {
			t.Fatalf("Run returned %v, want ErrRestart", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the broker did not stop for a restart after its log directory came back")
	}
}

// produceN produces n acks=all records to partition 0 of topic, from
// value index from, and fails the test on any error.
func produceN(t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "v%03d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce v%03d: %v", i, err)
		}
	}
}

// consumeN reads partition 0 of topic from the start and checks it holds
// exactly the values v000..v(n-1), in order.
func consumeN(t *testing.T, seeds []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []string
	for len(got) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != n {
		t.Fatalf("read %d records, want %d: %v", len(got), n, got)
	}
	for i, v := range got {
		if want := fmt.Sprintf("v%03d", i); v != want {
			t.Fatalf("record %d = %s, want %s", i, v, want)
		}
	}
}

// TestClusterLogDirFailure: the leader of a partition loses its log
// directory; it reports it at once, the controller moves the leadership to
// another ISR member and shrinks the ISR, Metadata lists it as an offline
// replica, and acks=all produce goes on at the new leader. When the
// directory is writable again the broker stops for a restart; restarted,
// it rejoins the ISR and nothing acknowledged is missing.
func TestClusterLogDirFailure(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	c.waitLive(1, 2, 3, 4)
	const victim = 4 // a broker-only node
	fault := &dirFault{dir: c.cfgs[victim].DataDir}
	c.stop(victim)
	c.nodes[victim] = startFaulty(t, c.cfgs[victim], fault)
	c.waitLive(1, 2, 3, 4)

	const topic = "f"
	if _, err := c.nodes[1].Meta().CreateTopic(metadata.CreateTopicRequest{Name: topic, Partitions: -1, ReplicationFactor: -1,
		Assignment: map[int32][]int32{0: {victim, 1, 2}}, Configs: map[string]string{"min.insync.replicas": "2"}}, false); err != nil {
		t.Fatal(err)
	}
	part := func() metadata.Partition { return c.nodes[1].Meta().Image().Topic(topic).Partitions[0] }
	c.waitFor(20*time.Second, "broker 4 leading f-0 with a full ISR", func() bool {
		p := part()
		return p.Leader == victim && len(p.ISR) == 3
	})
	cl, seeds := c.patientClient(t)
	produceN(t, cl, topic, 0, 10)

	fault.on.Store(true)
	start := time.Now()
	produceN(t, cl, topic, 10, 20) // the first write fails at broker 4, then goes to the new leader
	t.Logf("20 acks=all records across the failover took %v", time.Since(start).Round(time.Millisecond))
	p := part()
	if p.Leader == victim || slices.Contains(p.ISR, victim) {
		t.Fatalf("after the failure: leader %d ISR %v still hold broker %d", p.Leader, p.ISR, victim)
	}
	if r := c.nodes[1].Meta().Image().Registration(victim); r == nil || !r.LogDirOffline {
		t.Fatalf("registration of broker %d: %+v, want its log dir offline", victim, r)
	}
	md, err := kadm.NewClient(cl).Metadata(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if pd := md.Topics[topic].Partitions[0]; !slices.Contains(pd.OfflineReplicas, victim) || pd.Leader == victim {
		t.Errorf("Metadata of f-0: leader %d offline replicas %v, want %d offline", pd.Leader, pd.OfflineReplicas, victim)
	}

	fault.on.Store(false)
	waitRestart(t, c.nodes[victim])
	delete(c.nodes, victim)
	c.start(victim)
	c.waitFor(60*time.Second, "broker 4 back in the ISR of f-0", func() bool { return slices.Contains(part().ISR, victim) })
	produceN(t, cl, topic, 30, 5)
	consumeN(t, seeds[:3], topic, 35)
}

// TestSingleNodeLogDirFailure: without a controller quorum a failed log
// directory answers KAFKA_STORAGE_ERROR (the broker does not crash); once
// writable again the broker stops for a restart, and after it every
// acknowledged record is there and writes succeed again.
func TestSingleNodeLogDirFailure(t *testing.T) {
	cfg := config.Defaults()
	must(t, cfg.Set("log.dirs", t.TempDir()))
	must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0"))
	fault := &dirFault{dir: cfg.DataDir}
	r := startFaulty(t, &cfg, fault)
	stopped := false
	defer func() {
		if !stopped {
			r.Stop(30 * time.Second)
		}
	}()
	const topic = "s"
	if _, err := r.Meta().CreateTopic(metadata.CreateTopicRequest{Name: topic, Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	seeds := []string{r.Addr().String()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordRetries(0), kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceN(t, cl, topic, 0, 5)

	fault.on.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("lost")}).FirstErr()
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to a failed log directory: %v, want KAFKA_STORAGE_ERROR", err)
	}
	fault.on.Store(false)
	waitRestart(t, r)
	stopped = true

	restartedKeepsData(t, &cfg, Options{Logger: slog.New(slog.DiscardHandler)}, topic)
}

// restartedKeepsData starts the broker again on cfg (its log directory
// whole again), produces 5 more records to partition 0 of topic and reads
// back all 10: the 5 acked before the fault and the new ones.
func restartedKeepsData(t *testing.T, cfg *config.Broker, opts Options, topic string) {
	t.Helper()
	r2, err := Start(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop(30 * time.Second)
	seeds := []string{r2.Addr().String()}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	produceN(t, cl2, topic, 5, 5)
	consumeN(t, seeds, topic, 10)
}

// patientClient returns a client of brokers 1–4 (and their addresses) that
// keeps retrying a send for 45 s, long enough for a leader to move; it is
// closed when the test ends.
func (c *testCluster) patientClient(t *testing.T) (*kgo.Client, []string) {
	t.Helper()
	seeds := c.addrs(4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(45*time.Second), kgo.RetryTimeout(45*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, seeds
}

// readFault fails the reads of one partition's segment files while on, as
// a disk whose old data has gone bad while new writes still succeed; it
// counts the creates of the log dir probe's file.
type readFault struct {
	seg    string // a substring of the segment paths: "/<topic>-<partition>/"
	on     atomic.Bool
	probes atomic.Int64
}

func (f *readFault) Inject(op vfs.Op, path string) vfs.Fault {
	if op == vfs.OpCreate && strings.HasSuffix(path, logDirProbeName) {
		f.probes.Add(1)
	}
	if f.on.Load() && op == vfs.OpRead && strings.Contains(path, f.seg) && strings.HasSuffix(path, ".log") {
		return vfs.Fault{Err: syscall.EIO}
	}
	return vfs.Fault{}
}

// TestLogDirReadFaultHoldsRestart (chaos F13d): reads of a partition's
// segment fail (EIO) while the directory takes writes. The read takes the
// log, and the directory, offline; the probe reads the failed bytes again,
// so the broker does not restart while the fault holds (the old probe only
// wrote, passed at once, and the new process's log recovery failed on the
// read and exited). While it holds, a new broker's New fails with
// ErrLogDirFailed and AwaitLogDir waits; once the reads work again the
// broker restarts, and every acknowledged record is there.
func TestLogDirReadFaultHoldsRestart(t *testing.T) {
	cfg := config.Defaults()
	must(t, cfg.Set("log.dirs", t.TempDir()))
	must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0"))
	const topic = "r"
	fault := &readFault{seg: "/" + topic + "-0/"}
	fsys := vfs.NewFaulty(vfs.Default, fault)
	opts := Options{FS: fsys, Logger: slog.New(slog.DiscardHandler), LogDirProbeInterval: 20 * time.Millisecond}
	r, err := Start(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			r.Stop(30 * time.Second)
		}
	}()
	if _, err := r.Meta().CreateTopic(metadata.CreateTopicRequest{Name: topic, Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	seeds := []string{r.Addr().String()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceN(t, cl, topic, 0, 5)

	l, ok := r.logs.Get(topic, 0)
	if !ok {
		t.Fatal("no log r-0")
	}
	fault.on.Store(true)
	if _, err := l.Read(0, 1<<20, l.LogEndOffset(), true); !errors.Is(err, commitlog.ErrLogOffline) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("read under the fault: %v, want ErrLogOffline wrapping EIO", err)
	}
	// Several probes must fail, not restart the broker: each probe is one
	// create of the probe file, and a probe finishes before the next one's
	// create.
	from := fault.probes.Load()
	deadline := time.After(60 * time.Second)
	for fault.probes.Load() < from+4 {
		select {
		case err := <-r.done:
			stopped = true
			t.Fatalf("Run returned %v after %d probes while reads of the segment still fail, want it serving", err, fault.probes.Load()-from)
		case <-deadline:
			t.Fatalf("%d probes in 60 s, want 4", fault.probes.Load()-from)
		case <-time.After(10 * time.Millisecond):
		}
	}

	// A process started now (a restart by hand, or a probe the fault
	// fooled) fails to load the log, and waits instead of exiting.
	if _, err := New(&cfg, opts); !errors.Is(err, ErrLogDirFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("New under the read fault: %v, want ErrLogDirFailed wrapping EIO", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = AwaitLogDir(ctx, fsys, cfg.DataDir, fmt.Errorf("%w: %w", ErrLogDirFailed,
		&commitlog.ReadError{Path: fsys.PathJoin(l.Dir(), "00000000000000000000.log"), Err: syscall.EIO}), 10*time.Millisecond, opts.Logger)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitLogDir under the read fault: %v, want it waiting until ctx ends", err)
	}

	fault.on.Store(false)
	waitRestart(t, r)
	stopped = true
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := AwaitLogDir(ctx, fsys, cfg.DataDir, nil, 10*time.Millisecond, opts.Logger); err != nil {
		t.Fatalf("AwaitLogDir after the fault: %v", err)
	}
	restartedKeepsData(t, &cfg, opts, topic)
}
