package streams_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

func TestWindowedReduceAggregateAndSessionMerge(t *testing.T) {
	b := streams.NewBuilder()
	s := streams.Stream[string, int64](b, "in")
	g := s.GroupByKey()
	tw := streams.WindowedBy(g, streams.TimeWindows{Size: 10 * time.Millisecond, Grace: time.Second})
	tw.Reduce(func(a, v int64) int64 { return max(a, v) }, streams.Named("max")).ToStream().
		To("max", streams.KeySerde(streams.WindowedSerde(streams.String())))
	streams.WindowedAggregate(tw, func() string { return "" }, func(_ string, v int64, agg string) string {
		return agg + string(rune('a'+v))
	}, streams.Named("letters"))
	sw := streams.WindowedBySession(g, streams.SessionWindows{InactivityGap: 5 * time.Millisecond, Grace: time.Second})
	streams.SessionAggregate(sw, func() int64 { return 0 }, func(_ string, v int64, a int64) int64 { return a + v },
		func(_ string, a, b int64) int64 { return a + b }, streams.Named("sums"))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, int64](d, "in")
	for _, e := range []struct{ v, ts int64 }{{3, 1}, {1, 4}, {7, 12}, {2, 9}, {5, 30}} {
		if err := in.PipeAt("k", e.v, ms(e.ts)); err != nil {
			t.Fatal(err)
		}
	}
	maxes, err := streams.NewTestOutputTopic[streams.Windowed[string], int64](d, "max",
		streams.KeySerde(streams.WindowedSerde(streams.String()))).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range maxes {
		got = append(got, r.Value)
	}
	if diff := cmp.Diff([]int64{3, 3, 7, 3, 5}, got); diff != "" {
		t.Errorf("windowed max (-want +got):\n%s", diff)
	}
	letters, err := streams.DriverWindowStore[string, string](d, "letters")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := letters.Fetch("k", ms(0), ms(100))
	if err != nil {
		t.Fatal(err)
	}
	want := []streams.WindowValue[string]{
		{Window: streams.Window{Start: ms(0), End: ms(10)}, Value: "dbc"},
		{Window: streams.Window{Start: ms(10), End: ms(20)}, Value: "h"},
		{Window: streams.Window{Start: ms(30), End: ms(40)}, Value: "f"},
	}
	if diff := cmp.Diff(want, ws); diff != "" {
		t.Errorf("letters store (-want +got):\n%s", diff)
	}
	sums, err := streams.DriverWindowStore[string, int64](d, "sums")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := sums.Fetch("k", ms(0), ms(100))
	if err != nil {
		t.Fatal(err)
	}
	// 1, 4, 9 and 12 chain within the 5ms gap into one session; 30 is alone.
	wantS := []streams.WindowValue[int64]{
		{Window: streams.Window{Start: ms(1), End: ms(12)}, Value: 13},
		{Window: streams.Window{Start: ms(30), End: ms(30)}, Value: 5},
	}
	if diff := cmp.Diff(wantS, ss); diff != "" {
		t.Errorf("session store (-want +got):\n%s", diff)
	}
}

func TestTableFilterNotAndGlobalTableStore(t *testing.T) {
	b := streams.NewBuilder()
	streams.Table[string, int64](b, "t").FilterNot(func(_ string, v int64) bool { return v < 0 }, streams.Named("nonneg")).
		ToStream().To("out")
	g := streams.GlobalTable[string, string](b, "g", streams.Named("global"))
	streams.JoinGlobal(streams.Stream[string, string](b, "s"), g, func(k, _ string) string { return k },
		func(_, v, gv string) string { return v + gv }).To("joined")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tin := streams.NewTestInputTopic[string, int64](d, "t")
	for _, v := range []int64{5, -1} {
		if err := tin.Pipe("k", v); err != nil {
			t.Fatal(err)
		}
	}
	out, err := streams.NewTestOutputTopic[string, int64](d, "out").ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Value != 5 || !out[1].Tombstone {
		t.Errorf("FilterNot output = %+v, want 5 then a tombstone", out)
	}
	gin := streams.NewTestInputTopic[string, string](d, "g")
	if err := gin.Pipe("x", "!"); err != nil {
		t.Fatal(err)
	}
	gs, err := streams.DriverKeyValueStore[string, string](d, "global")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := gs.Get("x"); v != "!" || !ok {
		t.Errorf("global store x = %q, %v", v, ok)
	}
	if err := gin.PipeTombstone("x", ms(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := gs.Get("x"); ok {
		t.Error("global store kept a deleted key")
	}
}
