// Package connect tests the Connect worker end to end against a real
// in-process Kavka broker, with real franz-go clients, files and (where
// installed) PostgreSQL.
package connect

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/connect/connectors"
	"github.com/kavka-io/kavka/connect/runtime"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/server"
)

const waitFor = 60 * time.Second

// startBroker runs an in-process broker on a free loopback port.
func startBroker(t testing.TB, extra ...string) string {
	t.Helper()
	cfg := config.Defaults()
	set := map[string]string{"log.dirs": t.TempDir(), "listeners": "127.0.0.1:0",
		"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}
	for i := 0; i+1 < len(extra); i += 2 {
		set[extra[i]] = extra[i+1]
	}
	for k, v := range set {
		if err := cfg.Set(k, v); err != nil {
			t.Fatalf("config %s: %v", k, err)
		}
	}
	r, err := server.Start(&cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(20 * time.Second) })
	addr := r.Addr().String()
	waitReady(t, addr)
	return addr
}

func waitReady(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("broker %s not ready", addr)
}

func client(t testing.TB, broker string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func createTopic(t testing.TB, adm *kadm.Client, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// standalone is a running standalone worker with its REST API on an
// httptest server.
type standalone struct {
	*runtime.Standalone
	url  string
	stop func()
}

func startStandalone(t testing.TB, broker string, props map[string]string) *standalone {
	t.Helper()
	p := map[string]string{"bootstrap.servers": broker, "offset.flush.interval.ms": "200",
		"key.converter":   "org.apache.kafka.connect.storage.StringConverter",
		"value.converter": "org.apache.kafka.connect.storage.StringConverter"}
	for k, v := range props {
		p[k] = v
	}
	wcfg, err := runtime.ParseWorkerConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	sa, err := runtime.NewStandalone(wcfg, connectors.Plugins(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(runtime.NewAPI(sa.Herder))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sa.Run(ctx) }()
	s := &standalone{Standalone: sa, url: srv.URL}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("standalone: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("standalone worker did not stop")
		}
		srv.Close()
	}
	t.Cleanup(s.stop)
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// eventually retries f until it returns nil or waitFor passes.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}
