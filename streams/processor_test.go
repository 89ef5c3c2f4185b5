package streams_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

// dedup forwards a key only the first time it is seen, and every 10ms of
// stream time emits how many keys it has seen so far.
type dedup struct {
	ctx  streams.ProcessorContext[string, string]
	seen streams.KeyValueStore[string, int64]
}

func (p *dedup) Init(ctx streams.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	if p.seen, err = streams.GetKeyValueStore[string, int64](ctx, "seen"); err != nil {
		return err
	}
	ctx.Schedule(10*time.Millisecond, streams.StreamTime, func(now time.Time) error {
		var n int64
		if err := p.seen.All(func(string, int64) bool { n++; return true }); err != nil {
			return err
		}
		return ctx.Forward(streams.Record[string, string]{Key: "count", Value: string(rune('0' + n)), Timestamp: now})
	})
	ctx.Schedule(time.Second, streams.WallClockTime, func(now time.Time) error {
		return ctx.Forward(streams.Record[string, string]{Key: "wall", Value: now.UTC().Format("15:04:05"), Timestamp: now})
	})
	return nil
}

func (p *dedup) Process(r streams.Record[string, string]) error {
	if _, ok, err := p.seen.Get(r.Key); err != nil || ok {
		return err
	}
	if err := p.seen.Put(r.Key, r.Timestamp.UnixMilli()); err != nil {
		return err
	}
	return p.ctx.Forward(streams.Record[string, string]{Key: r.Key, Value: r.Value})
}

func TestProcessorAPI(t *testing.T) {
	b := streams.NewBuilder()
	streams.AddKeyValueStore[string, int64](b, "seen")
	s := streams.Stream[string, string](b, "in")
	streams.Process(s, func() streams.Processor[string, string, string, string] { return &dedup{} }, []string{"seen"}).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo, streams.DriverWallClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	for _, e := range []struct {
		k  string
		ts int64
	}{{"a", 1}, {"b", 2}, {"a", 5}, {"c", 12}} {
		if err := in.PipeAt(e.k, "v", ms(e.ts)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AdvanceWallClock(1500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := streams.NewTestOutputTopic[string, string](d, "out").ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	// Stream-time punctuation fires at the first record (after it is
	// processed: 1 key) and again once stream time reaches 11.
	want := []kv{{"a", "v"}, {"count", "1"}, {"b", "v"}, {"c", "v"}, {"count", "3"}, {"wall", "00:00:01"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

type panicky struct{}

func (panicky) Init(ctx streams.ProcessorContext[string, string]) error {
	ctx.Schedule(time.Second, streams.WallClockTime, func(time.Time) error { panic("boom") })
	ctx.Schedule(time.Second, streams.StreamTime, nil) // ignored
	return nil
}
func (panicky) Process(streams.Record[string, string]) error { return nil }

func TestPunctuationPanicBecomesError(t *testing.T) {
	b := streams.NewBuilder()
	streams.Process(streams.Stream[string, string](b, "in"), func() streams.Processor[string, string, string, string] { return panicky{} }, nil)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := streams.NewTestInputTopic[string, string](d, "in").Pipe("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := d.AdvanceWallClock(2 * time.Second); err == nil {
		t.Error("a panicking punctuation returned no error")
	}
}
