package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminEndpoints(t *testing.T) {
	reqs := NewRequestMetrics()
	reqs.Observe(0, 2*time.Millisecond, 100)
	reqs.Observe(0, 3*time.Millisecond, 50)
	reqs.Observe(-1, time.Millisecond, 1) // unknown keys are dropped
	s, err := New(Config{
		Collectors: []prometheus.Collector{reqs, LogCollector(func(yield func(PartitionOffsets)) {
			yield(PartitionOffsets{Topic: "orders", Partition: 3, LogEnd: 42, HighWatermark: 40, Durable: 41})
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	f := func(path, want string) {
		t.Helper()
		code, body := get(path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, body without %q:\n%.500s", path, code, want, body)
		}
	}
	f("/healthz", "ok")
	f("/metrics", `kavka_log_end_offset{partition="3",topic="orders"} 42`)
	f("/metrics", `kavka_log_durable_offset{partition="3",topic="orders"} 41`)
	f("/metrics", "go_goroutines")
	f("/metrics", `kavka_requests_total{api="Produce"} 2`)
	f("/metrics", `kavka_request_bytes_total{api="Produce"} 150`)
	f("/metrics", `kavka_request_duration_seconds_count{api="Produce"} 2`)
	f("/debug/pprof/", "goroutine")
	f("/debug/pprof/goroutine?debug=1", "goroutine profile")
}
