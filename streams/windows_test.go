package streams_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

type wrow struct {
	Key        string
	Start, End int64 // ms
	Value      int64
	Tombstone  bool
}

func ms(n int64) time.Time { return time.UnixMilli(n) }

// windowRun pipes (key, ts) pairs and returns the windowed output rows.
func windowRun(t *testing.T, build func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64], in []struct {
	k  string
	ts int64
}) ([]wrow, *streams.TestDriver) {
	t.Helper()
	b := streams.NewBuilder()
	build(streams.Stream[string, string](b, "in").GroupByKey()).ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	input := streams.NewTestInputTopic[string, string](d, "in")
	for _, r := range in {
		if err := input.PipeAt(r.k, "v", ms(r.ts)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := streams.NewTestOutputTopic[streams.Windowed[string], int64](d, "out",
		streams.KeySerde(streams.WindowedSerde(streams.String()))).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var rows []wrow
	for _, r := range out {
		rows = append(rows, wrow{r.Key.Key, r.Key.Window.Start.UnixMilli(), r.Key.Window.End.UnixMilli(), r.Value, r.Tombstone})
	}
	return rows, d
}

type kt = struct {
	k  string
	ts int64
}

func TestTumblingWindowsWithGraceAndLateRecords(t *testing.T) {
	rows, d := windowRun(t, func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64] {
		return streams.WindowedBy(g, streams.TimeWindows{Size: 10 * time.Millisecond, Grace: 5 * time.Millisecond}).Count()
	}, []kt{{"a", 1}, {"a", 9}, {"b", 12}, {"a", 8}, {"a", 16}, {"a", 3}, {"a", 14}})
	// a@8 is out of order but within grace (stream time 12, window [0,10) closes at 15).
	// a@3 arrives at stream time 16 > 10+5: late, dropped.
	want := []wrow{
		{"a", 0, 10, 1, false}, {"a", 0, 10, 2, false}, {"b", 10, 20, 1, false},
		{"a", 0, 10, 3, false}, {"a", 10, 20, 1, false}, {"a", 10, 20, 2, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if n := d.DroppedRecords(); n != 1 {
		t.Errorf("DroppedRecords() = %d, want 1", n)
	}
}

func TestHoppingWindows(t *testing.T) {
	rows, _ := windowRun(t, func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64] {
		return streams.WindowedBy(g, streams.TimeWindows{Size: 10 * time.Millisecond, Advance: 5 * time.Millisecond, Grace: time.Second}).Count()
	}, []kt{{"a", 7}, {"a", 12}})
	want := []wrow{
		{"a", 0, 10, 1, false}, {"a", 5, 15, 1, false},
		{"a", 5, 15, 2, false}, {"a", 10, 20, 1, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestSlidingWindows(t *testing.T) {
	rows, _ := windowRun(t, func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64] {
		return streams.WindowedBySliding(g, streams.SlidingWindows{TimeDifference: 10 * time.Millisecond, Grace: time.Second}).Count()
	}, []kt{{"a", 10}, {"a", 15}, {"a", 30}})
	want := []wrow{
		{"a", 0, 10, 1, false},  // left window of 10
		{"a", 5, 15, 2, false},  // left window of 15: {10, 15}
		{"a", 11, 21, 1, false}, // right window of 10: {15}
		{"a", 20, 30, 1, false}, // left window of 30
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestSessionWindowsMerge(t *testing.T) {
	rows, d := windowRun(t, func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64] {
		return streams.WindowedBySession(g, streams.SessionWindows{InactivityGap: 5 * time.Millisecond, Grace: 10 * time.Millisecond}).Count(streams.Named("sessions"))
	}, []kt{{"a", 0}, {"a", 20}, {"a", 10}, {"a", 15}, {"a", 1}})
	// 0 and 20 are separate; 10 starts a third; 15 bridges 10 and 20;
	// a@1 would end a session at 1, before stream time 20 minus grace 10: late.
	want := []wrow{
		{"a", 0, 0, 1, false},
		{"a", 20, 20, 1, false},
		{"a", 10, 10, 1, false},
		{"a", 10, 10, 0, true}, {"a", 20, 20, 0, true}, {"a", 10, 20, 3, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if n := d.DroppedRecords(); n != 1 {
		t.Errorf("DroppedRecords() = %d, want 1", n)
	}
}

func TestSuppressUntilWindowCloses(t *testing.T) {
	rows, _ := windowRun(t, func(g streams.KGroupedStream[string, string]) streams.KTable[streams.Windowed[string], int64] {
		w := streams.WindowedBy(g, streams.TimeWindows{Size: 10 * time.Millisecond, Grace: 2 * time.Millisecond}).Count()
		return streams.SuppressUntilWindowCloses(w)
	}, []kt{{"a", 1}, {"a", 5}, {"b", 9}, {"a", 11}, {"a", 12}, {"a", 25}})
	// [0,10) closes when stream time reaches 12; [10,20) at 22.
	want := []wrow{
		{"a", 0, 10, 2, false}, {"b", 0, 10, 1, false},
		{"a", 10, 20, 2, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}
