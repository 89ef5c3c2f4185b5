package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminEndpoints(t *testing.T) {
	s, err := New(Config{
		Collectors: []prometheus.Collector{LogCollector(func(yield func(PartitionOffsets)) {
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
	f("/debug/pprof/", "goroutine")
	f("/debug/pprof/goroutine?debug=1", "goroutine profile")
}
