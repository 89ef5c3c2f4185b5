package httpsink

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/connect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type request struct {
	Method, Path, Auth, Custom, ContentType, Body string
}

// flakyServer answers 503 (or drops the connection) for a seeded share of
// requests and records the accepted ones.
type flakyServer struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	accepted []request
	failed   int
	status   int // if non-zero, every request gets it
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.rng.Float64() < s.failRate {
		s.failed++
		if s.failed%3 == 0 {
			panic(http.ErrAbortHandler) // the connection drops: a transport error
		}
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	s.accepted = append(s.accepted, request{r.Method, r.URL.Path, r.Header.Get("Authorization"),
		r.Header.Get("X-Custom"), r.Header.Get("Content-Type"), string(b)})
	w.WriteHeader(http.StatusOK)
}

func startTask(t *testing.T, url string, cfg map[string]string) (*Task, *[]time.Duration) {
	t.Helper()
	full := map[string]string{"http.api.url": url, "retry.backoff.ms": "100", "retry.backoff.max.ms": "400"}
	for k, v := range cfg {
		full[k] = v
	}
	var waits []time.Duration
	task := &Task{sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	if err := task.Start(context.Background(), full, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = task.Stop(context.Background()) })
	return task, &waits
}

func records(n int) []connect.Record {
	out := make([]connect.Record, n)
	for i := range out {
		out[i] = connect.Record{Topic: "orders", Key: fmt.Sprint("k", i%2), Value: fmt.Sprintf("v%d", i), Offset: int64(i)}
	}
	return out
}

// TestBatchesRetriesAuth: 95 records in batches of 10 reach a server that
// fails a third of the requests; every batch arrives exactly as sent, in
// order, with the auth and custom headers and the configured method.
func TestBatchesRetriesAuth(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		srv := &flakyServer{rng: rand.New(rand.NewPCG(seed, 0)), failRate: 0.33}
		hs := httptest.NewServer(srv)
		task, _ := startTask(t, hs.URL+"/in", map[string]string{
			"batch.max.size": "10", "batch.prefix": "[", "batch.suffix": "]\n", "batch.separator": " ",
			"request.method": "PUT", "auth.type": "BEARER", "bearer.token": "s3cret",
			"headers": "X-Custom: a|Content-Type: text/x-lines", "max.retries": "50",
		})
		if err := task.Put(context.Background(), records(95)); err != nil {
			t.Fatalf("seed %d: Put: %v", seed, err)
		}
		hs.Close()
		var want []request
		for b := 0; b < 95; b += 10 {
			var vals []string
			for i := b; i < min(b+10, 95); i++ {
				vals = append(vals, fmt.Sprintf("v%d", i))
			}
			want = append(want, request{"PUT", "/in", "Bearer s3cret", "a", "text/x-lines", "[" + strings.Join(vals, " ") + "]\n"})
		}
		if diff := cmp.Diff(want, srv.accepted); diff != "" {
			t.Errorf("seed %d: requests (-want +got):\n%s", seed, diff)
		}
		if srv.failed == 0 {
			t.Errorf("seed %d: the server never failed; the test proves nothing", seed)
		}
	}
}

// TestBackoffAndGiveUp: waits double up to the cap, and after max.retries
// the task fails; a status outside retry.on.status.codes fails at once.
func TestBackoffAndGiveUp(t *testing.T) {
	srv := &flakyServer{rng: rand.New(rand.NewPCG(1, 0)), status: http.StatusServiceUnavailable}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	f := func(status int, wantWaits []time.Duration, wantErr string) {
		t.Helper()
		srv.mu.Lock()
		srv.status = status
		srv.mu.Unlock()
		task, waits := startTask(t, hs.URL, map[string]string{"max.retries": "4"})
		err := task.Put(context.Background(), records(1))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("status %d: Put error = %v, want one containing %q", status, err, wantErr)
		}
		if diff := cmp.Diff(wantWaits, *waits); diff != "" {
			t.Errorf("status %d: waits (-want +got):\n%s", status, diff)
		}
	}
	ms := time.Millisecond
	f(503, []time.Duration{100 * ms, 200 * ms, 400 * ms, 400 * ms}, "giving up after 4 retries: HTTP 503")
	f(429, []time.Duration{100 * ms, 200 * ms, 400 * ms, 400 * ms}, "HTTP 429")
	f(400, nil, "HTTP 400")
}

// TestURLTemplateBasicAuthJSON: ${topic}/${key} split batches by URL,
// basic auth is encoded, json renders values as JSON.
func TestURLTemplateBasicAuthJSON(t *testing.T) {
	srv := &flakyServer{rng: rand.New(rand.NewPCG(1, 0))}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	task, _ := startTask(t, hs.URL+"/t/${topic}/${key}", map[string]string{
		"batch.max.size": "100", "auth.type": "BASIC", "connection.user": "u", "connection.password": "p",
		"request.body.format": "json", "batch.prefix": "[", "batch.suffix": "]",
	})
	recs := []connect.Record{
		{Topic: "a", Key: "x", Value: map[string]any{"n": int64(1)}},
		{Topic: "a", Key: "x", Value: "s"},
		{Topic: "a", Key: "y z", Value: nil}, // ignored
		{Topic: "a", Key: "y z", Value: true},
	}
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	auth := "Basic dTpw"
	want := []request{
		{"POST", "/t/a/x", auth, "", "application/json", `[{"n":1},"s"]`},
		{"POST", "/t/a/y z", auth, "", "application/json", `[true]`},
	}
	if diff := cmp.Diff(want, srv.accepted); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestParseCodes(t *testing.T) {
	f := func(s string, code int, want bool) {
		t.Helper()
		cs, err := parseCodes(s)
		if err != nil {
			t.Fatalf("parseCodes(%q): %v", s, err)
		}
		if got := cs.has(code); got != want {
			t.Errorf("parseCodes(%q).has(%d) = %v, want %v", s, code, got, want)
		}
	}
	f("408,429,500-", 503, true)
	f("408,429,500-", 404, false)
	f("500-502", 502, true)
	f("500-502", 503, false)
	f("", 500, false)
	for _, bad := range []string{"x", "500-400", "5-x"} {
		if _, err := parseCodes(bad); err == nil {
			t.Errorf("parseCodes(%q) succeeded, want an error", bad)
		}
	}
}
