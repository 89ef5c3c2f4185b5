package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/internal/config"
)

// TestRestartKeepsData: produce, stop gracefully, start on the same data
// directory, and read everything back.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	run := func() (*Running, string) {
		cfg := config.Defaults()
		must(t, cfg.Set("log.dirs", dir))
		must(t, cfg.Set("listeners", "127.0.0.1:0"))
		r, err := Start(&cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		must(t, err)
		return r, r.Addr().String()
	}
	r, addr := run()
	createTopic(t, addr, "keep", 2, nil)
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("keep"))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 100 {
		p.Produce(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte{byte(i)}}, nil)
	}
	must(t, p.Flush(ctx))
	p.Close()
	must(t, r.Stop(30*time.Second))

	r2, addr2 := run()
	t.Cleanup(func() { must(t, r2.Stop(30*time.Second)) })
	if got := len(consume(t, addr2, "keep", 100)); got != 100 {
		t.Fatalf("after restart: %d records, want 100", got)
	}
}
