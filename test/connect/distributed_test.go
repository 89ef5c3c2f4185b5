package connect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/connect/connectors"
	"github.com/kavka-io/kavka/connect/runtime"
)

// workerEnv makes the test binary run a distributed worker instead of the
// tests (the worker processes of TestDistributed*), so that a worker can be
// killed with SIGKILL like a crashed machine.
const workerEnv = "KAVKA_TEST_CONNECT_WORKER"

func TestMain(m *testing.M) {
	if path := os.Getenv(workerEnv); path != "" {
		os.Exit(runWorkerProcess(path))
	}
	os.Exit(m.Run())
}

// runWorkerProcess is what `kavka connect distributed PATH` does.
func runWorkerProcess(path string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fail := func(err error) int { log.Error("worker", "err", err); return 1 }
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	props, err := runtime.ParseProperties(f)
	f.Close()
	if err != nil {
		return fail(err)
	}
	wcfg, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		return fail(err)
	}
	d, err := runtime.NewDistributed(wcfg, connectors.Plugins(), log)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", runtime.ListenAddr(props))
	if err != nil {
		return fail(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Run(gctx) })
	g.Go(func() error { return runtime.Serve(gctx, ln, runtime.NewAPI(d.Herder)) })
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	log.Info("worker stopped cleanly")
	return 0
}

type workerProc struct {
	cmd  *exec.Cmd
	url  string
	id   string
	logf string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startWorkerProc starts a distributed worker process (this test binary).
func startWorkerProc(t *testing.T, dir string, i int, props map[string]string) *workerProc {
	t.Helper()
	port := freePort(t)
	p := map[string]string{"listeners": fmt.Sprintf("http://127.0.0.1:%d", port),
		"rest.advertised.host.name": "127.0.0.1", "rest.advertised.port": fmt.Sprint(port)}
	for k, v := range props {
		p[k] = v
	}
	var b strings.Builder
	for k, v := range p {
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(v, `\`, `\\`))
	}
	path := filepath.Join(dir, fmt.Sprintf("worker%d.properties", i))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(dir, fmt.Sprintf("worker%d.log", i))
	lf, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+path)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		id: fmt.Sprintf("127.0.0.1:%d", port), logf: logf, done: make(chan struct{})}
	go func() { w.err = cmd.Wait(); lf.Close(); close(w.done) }()
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("worker %d log (tail):\n%s", i, b)
		}
	})
	return w
}

func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (w *workerProc) stop(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
		if w.err != nil {
			t.Errorf("worker %s exited: %v", w.id, w.err)
		}
	case <-time.After(40 * time.Second):
		t.Errorf("worker %s did not stop", w.id)
	}
}

func httpDo(method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// collector is the HTTP sink's endpoint: it fails a seeded share of the
// requests with 503 and counts every line it accepts.
type collector struct {
	mu   sync.Mutex
	rng  *rand.Rand
	seen map[string]int
	n    int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rng.IntN(10) == 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if os.Getenv("DEBUG_COLL") != "" {
		fmt.Fprintf(os.Stderr, "collector: %s %d bytes, %d lines so far\n", r.URL.Path, len(b), len(c.seen))
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			c.seen[l]++
			c.n++
		}
	}
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// TestDistributedKillWorker: three worker processes share a FileStreamSource
// (file → topic) and a two-task HTTP sink (topic → a flaky HTTP endpoint).
// The connectors are created through a worker that may not be the leader
// (the write is forwarded). Mid-stream the worker running the source task
// is killed with SIGKILL: its tasks move to the survivors, the source
// resumes from its committed offset (the first line is not re-sent), and
// every line reaches both the topic and the HTTP endpoint.
func TestDistributedKillWorker(t *testing.T) {
	t0 := time.Now()
	broker := startBroker(t)
	cl, adm := client(t, broker)
	createTopic(t, adm, "dist-lines", 3)
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")

	coll := &collector{rng: rand.New(rand.NewPCG(7, 0)), seen: map[string]int{}}
	hs := httptest.NewServer(coll)
	defer hs.Close()

	props := map[string]string{"bootstrap.servers": broker, "group.id": "kavka-connect-test",
		"config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets",
		"status.storage.topic": "connect-status", "config.storage.replication.factor": "1",
		"offset.storage.replication.factor": "1", "status.storage.replication.factor": "1",
		"offset.storage.partitions": "5", "status.storage.partitions": "2",
		"session.timeout.ms": "3000", "heartbeat.interval.ms": "500", "rebalance.timeout.ms": "20000",
		"consumer.session.timeout.ms": "3000", "consumer.heartbeat.interval.ms": "500",
		"offset.flush.interval.ms": "300",
		"key.converter":            "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":          "org.apache.kafka.connect.storage.StringConverter"}
	var ws []*workerProc
	for i := range 3 {
		ws = append(ws, startWorkerProc(t, dir, i, props))
	}

	create := func(via *workerProc, name string, cfg map[string]string) {
		t.Helper()
		eventually(t, "create "+name, func() error {
			code, b, err := httpDo("POST", via.url+"/connectors", map[string]any{"name": name, "config": cfg})
			if err != nil {
				return err
			}
			if code != http.StatusCreated {
				return fmt.Errorf("POST /connectors: %d %s", code, b)
			}
			return nil
		})
	}
	t.Logf("%v: workers started", time.Since(t0).Round(time.Millisecond))
	create(ws[1], "src", map[string]string{"connector.class": "FileStreamSource", "file": input, "topic": "dist-lines"})
	create(ws[2], "http", map[string]string{"connector.class": "HttpSink", "topics": "dist-lines", "tasks.max": "2",
		"http.api.url": hs.URL + "/lines", "batch.max.size": "50", "batch.separator": "\n",
		"retry.backoff.ms": "20", "max.retries": "100"})

	status := func(via *workerProc, name string) (runtime.ConnectorState, error) {
		code, b, err := httpDo("GET", via.url+"/connectors/"+name+"/status", nil)
		var st runtime.ConnectorState
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d: %s", code, b)
		}
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		return st, err
	}
	running := func(via *workerProc, name string, tasks int) error {
		st, err := status(via, name)
		if err != nil {
			return err
		}
		if st.Connector.State != runtime.StateRunning || len(st.Tasks) != tasks {
			return fmt.Errorf("%s: %+v", name, st)
		}
		for _, ts := range st.Tasks {
			if ts.State != runtime.StateRunning {
				return fmt.Errorf("%s: %+v", name, st)
			}
		}
		return nil
	}
	// Statuses are visible on every worker (the status topic).
	for _, w := range ws {
		eventually(t, "connectors running", func() error {
			if err := running(w, "src", 1); err != nil {
				return err
			}
			return running(w, "http", 2)
		})
	}

	const total = 2000
	line := func(i int) string { return fmt.Sprintf("line-%06d", i) }
	appendLines := func(from, to int) {
		f, err := os.OpenFile(input, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		w := bufio.NewWriter(f)
		for i := from; i < to; i++ {
			fmt.Fprintln(w, line(i))
		}
		if err := w.Flush(); err != nil {
			t.Error(err)
		}
		f.Close()
	}
	t.Logf("%v: connectors running on every worker's view", time.Since(t0).Round(time.Millisecond))
	// The writer appends 50 lines every 100 ms (about 4 s in all) while
	// a worker is killed.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := 0; b < total; b += 50 {
			appendLines(b, b+50)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() { <-writerDone }()
	// Kill once a source offset is committed (so there is something to
	// resume from) and the sink is delivering.
	eventually(t, "source offset committed", func() error {
		code, b, err := httpDo("GET", ws[0].url+"/connectors/src/offsets", nil)
		if err != nil || code != 200 {
			return fmt.Errorf("GET offsets: %d %s %v", code, b, err)
		}
		var ob runtime.OffsetsBody
		if err := json.Unmarshal(b, &ob); err != nil {
			return err
		}
		if len(ob.Offsets) != 1 || ob.Offsets[0].Offset["position"] == nil {
			return fmt.Errorf("offsets %s", b)
		}
		if coll.distinct() < 200 {
			return fmt.Errorf("sink has %d lines", coll.distinct())
		}
		return nil
	})

	st, err := status(ws[0], "src")
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for i, w := range ws {
		if w.id == st.Tasks[0].WorkerID {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("source task runs on unknown worker %q", st.Tasks[0].WorkerID)
	}
	killedAt := time.Now()
	ws[victim].kill()
	t.Logf("killed worker %s (source task); %d lines delivered so far", ws[victim].id, coll.distinct())
	survivor := ws[(victim+1)%3]

	select {
	case <-writerDone:
		t.Logf("the writer finished before the kill; the test still checks that offsets resume")
	default:
	}
	eventually(t, "every line at the HTTP endpoint", func() error {
		if n := coll.distinct(); n != total {
			return fmt.Errorf("%d of %d distinct lines", n, total)
		}
		return nil
	})
	t.Logf("all %d lines delivered %v after the kill", total, time.Since(killedAt).Round(time.Millisecond))
	eventually(t, "source task moved", func() error {
		st, err := status(survivor, "src")
		if err != nil {
			return err
		}
		if len(st.Tasks) != 1 || st.Tasks[0].State != runtime.StateRunning || st.Tasks[0].WorkerID == ws[victim].id {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})

	// The topic holds every line; the first was written once (offsets resumed).
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "dist-lines")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	cl.AddConsumeTopics("dist-lines")
	counts := map[string]int{}
	var read int64
	for read < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { counts[string(r.Value)]++; read++ })
	}
	var missing []string
	for i := range total {
		if counts[line(i)] == 0 {
			missing = append(missing, line(i))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d lines missing from the topic, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	if c := counts[line(0)]; c != 1 {
		t.Errorf("%s written %d times; the moved source task should resume from its committed offset", line(0), c)
	}
	t.Logf("topic: %d records for %d lines (%d re-sent after the kill); HTTP endpoint: %d lines accepted",
		read, total, read-int64(total), coll.n)

	// A write through a survivor still works (forwarded if it is not the leader).
	code, b, err := httpDo("PUT", survivor.url+"/connectors/http/pause", nil)
	if err != nil || code != http.StatusAccepted {
		t.Errorf("PUT pause via survivor: %d %s %v", code, b, err)
	}
	t.Logf("%v: stopping", time.Since(t0).Round(time.Millisecond))
	for i, w := range ws {
		if i != victim {
			w.stop(t)
		}
	}
	t.Logf("%v: stopped", time.Since(t0).Round(time.Millisecond))
}
