package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/streams"
	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestHTTPQueries runs the example against a broker process and reads the
// counts through its HTTP handler (interactive queries).
func TestHTTPQueries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	br := harness.Start(t, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	cl := br.Client(kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "lines", "counts"); err != nil {
		t.Fatal(err)
	}
	topo, err := topology("lines", "counts")
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Brokers(br.Addr), streams.ApplicationID("wc-http"),
		streams.StateDir(t.TempDir()), streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	srv := httptest.NewServer(handler(app))
	defer srv.Close()
	for _, l := range []string{"the cat", "the dog", "The end"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lines", Value: []byte(l)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Word  string `json:"word"`
		Count int64  `json:"count"`
	}
	for ctx.Err() == nil && got.Count != 3 {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get(srv.URL + "/counts/the")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			json.NewDecoder(resp.Body).Decode(&got)
		}
		resp.Body.Close()
	}
	if got.Word != "the" || got.Count != 3 {
		t.Errorf("GET /counts/the = %+v, want the=3", got)
	}
	resp, err := http.Get(srv.URL + "/counts/unicorn")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /counts/unicorn: status %d, want 404", resp.StatusCode)
	}
}
