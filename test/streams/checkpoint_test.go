package streams_test

import (
	"context"
	"log/slog"

	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/streams"
	"github.com/kavka-io/kavka/test/harness"
)

// restores is a slog handler that sums the "restored" attribute of
// "task started" messages.
type restores struct {
	mu    sync.Mutex
	n     int64
	tasks int
}

func (h *restores) Enabled(context.Context, slog.Level) bool { return true }
func (h *restores) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "streams: task started" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "restored" {
			h.mu.Lock()
			h.n += a.Value.Int64()
			h.tasks++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h *restores) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *restores) WithGroup(string) slog.Handler      { return h }

// TestPersistentStoreCheckpoint: after a clean shutdown under
// at-least-once, a persistent store is reopened from its checkpoint and
// nothing is replayed from the changelog; the counts carry on.
func TestPersistentStoreCheckpoint(t *testing.T) {
	br := harness.Start(t, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	cl := br.Client(kgo.ProducerLinger(0))
	createTopics(t, cl, 2, "input", "counts-out")
	dir := t.TempDir()
	produced := 0
	runOnce := func(records int) *restores {
		t.Helper()
		produce(t, cl, produced, records, 10)
		produced += records
		b := streams.NewBuilder()
		streams.Stream[string, string](b, "input").GroupByKey().Count(streams.Named("counts"), streams.Persistent())
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		h := &restores{}
		app, err := streams.New(topo, streams.Brokers(br.Addr), streams.ApplicationID("cp"), streams.StateDir(dir),
			streams.Logger(slog.New(h)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		deadline := time.Now().Add(waitFor)
		for time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			st, err := streams.QueryKeyValueStore[string, int64](app, "counts")
			if err != nil {
				continue
			}
			var total int64
			if st.All(func(_ string, n int64) bool { total += n; return true }) == nil && total == int64(produced) {
				break
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		return h
	}
	first := runOnce(500)
	if first.n != 0 {
		t.Errorf("first run restored %d records, want 0", first.n)
	}
	// Second run: the same 500 keys' records again (offsets 500..999);
	// the store must resume from its checkpoint, not replay 10 keys' 500 updates.
	second := runOnce(500)
	if second.tasks == 0 || second.n != 0 {
		t.Errorf("second run: %d tasks restored %d records from the changelog, want 0 (checkpoint)", second.tasks, second.n)
	}
}
