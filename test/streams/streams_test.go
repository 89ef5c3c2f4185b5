// Package streams_test runs Kavka Streams applications against a real
// Kavka broker process (test/harness): instances run as child processes
// of the test binary, so one can be killed with SIGKILL mid-stream.
package streams_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/streams"
	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) {
	if os.Getenv("KAVKA_STREAMS_INSTANCE") != "" {
		os.Exit(runInstance())
	}
	harness.Main(m)
}

const waitFor = 90 * time.Second

// countTopology counts records per key of "input" into the store
// "counts" and writes every update to "counts-out".
func countTopology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	streams.Stream[string, string](b, "input").GroupByKey().Count(streams.Named("counts")).ToStream().To("counts-out")
	return b.Build()
}

// runInstance is the child process: it runs the count app until SIGTERM
// (clean shutdown) or SIGKILL.
func runInstance() int {
	topo, err := countTopology()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	g := streams.AtLeastOnce
	if os.Getenv("GUARANTEE") == "eos" {
		g = streams.ExactlyOnceV2
	}
	opts := []streams.Option{
		streams.Brokers(os.Getenv("BROKERS")), streams.ApplicationID(os.Getenv("APP_ID")),
		streams.ProcessingGuarantee(g), streams.StateDir(os.Getenv("STATE_DIR")),
		streams.CommitInterval(200 * time.Millisecond), streams.TransactionTimeout(5 * time.Second),
		streams.InstanceID(os.Getenv("INSTANCE")), streams.MaxPollRecords(200),
		streams.Logger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		streams.ClientOptions(kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond)),
	}
	if os.Getenv("PERSISTENT") != "" {
		// nothing: the store kind is part of the topology; kept for clarity
		_ = opts
	}
	app, err := streams.New(topo, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

type instance struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startInstance(t *testing.T, br *harness.Broker, app, name, guarantee string) *instance {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KAVKA_STREAMS_INSTANCE=1", "BROKERS="+br.Addr, "APP_ID="+app,
		"GUARANTEE="+guarantee, "STATE_DIR="+t.TempDir(), "INSTANCE="+name)
	logf, err := os.Create(t.TempDir() + "/" + name + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, done: make(chan struct{}), log: logf.Name()}
	go func() { cmd.Wait(); logf.Close(); close(in.done) }()
	t.Cleanup(func() {
		in.cmd.Process.Kill()
		<-in.done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("instance %s log tail:\n%s", name, b)
		}
	})
	return in
}

func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.done
}

func createTopics(t testing.TB, cl *kgo.Client, partitions int32, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
}

// produce writes n records with keys k0..k(keys-1), round robin.
func produce(t *testing.T, cl *kgo.Client, from, n, keys int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, &kgo.Record{Topic: "input", Key: []byte("k" + strconv.Itoa(i%keys)), Value: []byte("v")})
		if len(rs) == 500 || i == from+n-1 {
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			rs = rs[:0]
		}
	}
}

// readCounts reads counts-out (read_committed) until every key's latest
// count reaches want or the wait ends. It returns the latest count per
// key and every key's sequence of counts.
func readCounts(t *testing.T, addr string, keys int, want int64) (map[string]int64, map[string][]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("counts-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	latest := map[string]int64{}
	seq := map[string][]int64{}
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			v, err := streams.Int64().Deserialize(r.Value)
			if err != nil {
				t.Errorf("bad count %x: %v", r.Value, err)
				return
			}
			latest[string(r.Key)] = v
			seq[string(r.Key)] = append(seq[string(r.Key)], v)
		})
		done := len(latest) == keys
		for _, v := range latest {
			if v < want {
				done = false
			}
		}
		if done {
			// Read a little longer to catch duplicates past the target.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				v, _ := streams.Int64().Deserialize(r.Value)
				latest[string(r.Key)] = v
				seq[string(r.Key)] = append(seq[string(r.Key)], v)
			})
			cancel()
			break
		}
	}
	return latest, seq
}

// scenario runs the count app while records are produced for about three
// seconds; during production, step changes the set of instances (kill
// one, start one). It then checks the final counts: exactly right, with
// every key's committed updates exactly 1..n, under exactly-once; never
// lower under at-least-once.
func scenario(t *testing.T, guarantee, app string, step func(br *harness.Broker) (check func())) {
	const (
		keys  = 20
		total = 6000
	)
	br := harness.Start(t, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	cl := br.Client(kgo.ProducerLinger(0))
	createTopics(t, cl, 4, "input", "counts-out")
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 100 {
			produce(t, cl, i, 100, keys)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	check := step(br)
	<-produced
	latest, seq := readCounts(t, br.Addr, keys, total/keys)
	for k := 0; k < keys; k++ {
		key := "k" + strconv.Itoa(k)
		got := latest[key]
		switch guarantee {
		case "eos":
			if got != total/keys {
				t.Errorf("%s: final count %d, want exactly %d", key, got, total/keys)
			}
			for i, v := range seq[key] {
				if v != int64(i+1) {
					t.Errorf("%s: update %d is %d, want %d (updates %v...)", key, i, v, i+1, seq[key][:min(len(seq[key]), i+3)])
					break
				}
			}
		default:
			if got < total/keys {
				t.Errorf("%s: final count %d, want at least %d", key, got, total/keys)
			}
		}
	}
	t.Logf("%s: final counts %v", guarantee, latest)
	check()
}

func logMatches(t *testing.T, in *instance, re string) bool {
	t.Helper()
	b, err := os.ReadFile(in.log)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(re).Match(b)
}

// testKillOne: two instances; one is SIGKILLed mid-stream; the survivor
// takes its tasks over and restores their state from the changelogs.
func testKillOne(t *testing.T, guarantee string) {
	app := "count-" + guarantee
	scenario(t, guarantee, app, func(br *harness.Broker) func() {
		a := startInstance(t, br, app, "a", guarantee)
		b := startInstance(t, br, app, "b", guarantee)
		// Kill b only once it has started tasks and had time to write to
		// their changelogs (a fixed sleep raced a slow start under load).
		for deadline := time.Now().Add(30 * time.Second); !logMatches(t, b, `task started`) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		b.kill()
		return func() {
			if !logMatches(t, a, `task started" task=\S+ restored=[1-9]`) {
				t.Errorf("the surviving instance never restored a task from its changelog")
			}
		}
	})
}

func TestKillOneInstanceExactlyOnce(t *testing.T) { testKillOne(t, "eos") }

func TestKillOneInstanceAtLeastOnce(t *testing.T) { testKillOne(t, "alos") }

// TestScaleOut: a second instance joins mid-stream; the cooperative task
// balancer moves half of the tasks to it (revoked from the first, then
// assigned), and it restores their state before processing.
func TestScaleOutExactlyOnce(t *testing.T) {
	app := "scale-eos"
	scenario(t, "eos", app, func(br *harness.Broker) func() {
		a := startInstance(t, br, app, "a", "eos")
		time.Sleep(1500 * time.Millisecond)
		b := startInstance(t, br, app, "b", "eos")
		return func() {
			if !logMatches(t, a, `partitions revoked`) {
				t.Errorf("the first instance never gave up a task")
			}
			if !logMatches(t, b, `task started" task=\S+ restored=[1-9]`) {
				t.Errorf("the new instance never restored a moved task")
			}
		}
	})
}
