package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type kv = streams.KeyValue[string, string]

// run builds a topology with build, pipes inputs into "in" and returns
// what was written to "out".
func run[V any](t *testing.T, build func(b *streams.Builder), inputs []kv) []streams.KeyValue[string, V] {
	t.Helper()
	b := streams.NewBuilder()
	build(b)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	for _, r := range inputs {
		if err := in.Pipe(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	got, err := streams.NewTestOutputTopic[string, V](d, "out").ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func check[V any](t *testing.T, got, want []streams.KeyValue[string, V]) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

var abc = []kv{{"a", "1"}, {"b", "22"}, {"c", "333"}}

func TestStatelessOps(t *testing.T) {
	type kvi = streams.KeyValue[string, int]
	f := func(name string, build func(s streams.KStream[string, string]), want []kv) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			got := run[string](t, func(b *streams.Builder) { build(streams.Stream[string, string](b, "in")) }, abc)
			check(t, got, want)
		})
	}
	f("Filter", func(s streams.KStream[string, string]) {
		s.Filter(func(k, v string) bool { return len(v) > 1 }).To("out")
	}, []kv{{"b", "22"}, {"c", "333"}})
	f("FilterNot", func(s streams.KStream[string, string]) {
		s.FilterNot(func(k, v string) bool { return len(v) > 1 }).To("out")
	}, []kv{{"a", "1"}})
	f("Map", func(s streams.KStream[string, string]) {
		streams.Map(s, func(k, v string) (string, string) { return v, k }).To("out")
	}, []kv{{"1", "a"}, {"22", "b"}, {"333", "c"}})
	f("MapValues", func(s streams.KStream[string, string]) {
		streams.MapValues(s, func(k, v string) string { return k + v }).To("out")
	}, []kv{{"a", "a1"}, {"b", "b22"}, {"c", "c333"}})
	f("FlatMap", func(s streams.KStream[string, string]) {
		streams.FlatMap(s, func(k, v string) []kv {
			if k == "b" {
				return nil
			}
			return []kv{{k, v}, {k + k, v}}
		}).To("out")
	}, []kv{{"a", "1"}, {"aa", "1"}, {"c", "333"}, {"cc", "333"}})
	f("FlatMapValues", func(s streams.KStream[string, string]) {
		streams.FlatMapValues(s, func(k, v string) []string { return strings.Split(v, "") }).To("out")
	}, []kv{{"a", "1"}, {"b", "2"}, {"b", "2"}, {"c", "3"}, {"c", "3"}, {"c", "3"}})
	f("SelectKey", func(s streams.KStream[string, string]) {
		streams.SelectKey(s, func(k, v string) string { return strings.ToUpper(k) }).To("out")
	}, []kv{{"A", "1"}, {"B", "22"}, {"C", "333"}})
	f("Branch", func(s streams.KStream[string, string]) {
		br := s.Branch(func(k, v string) bool { return k == "a" }, func(k, v string) bool { return true })
		streams.MapValues(br[0], func(k, v string) string { return "first:" + v }).To("out")
		streams.MapValues(br[1], func(k, v string) string { return "default:" + v }).To("out")
	}, []kv{{"a", "first:1"}, {"b", "default:22"}, {"c", "default:333"}})
	f("Merge", func(s streams.KStream[string, string]) {
		x := s.Filter(func(k, v string) bool { return k == "a" })
		y := streams.MapValues(s.Filter(func(k, v string) bool { return k != "a" }), func(k, v string) string { return v + "!" })
		x.Merge(y).To("out")
	}, []kv{{"a", "1"}, {"b", "22!"}, {"c", "333!"}})
	f("Repartition", func(s streams.KStream[string, string]) {
		streams.SelectKey(s, func(k, v string) string { return v }).Repartition(streams.Named("by-value")).To("out")
	}, []kv{{"1", "1"}, {"22", "22"}, {"333", "333"}})
	var peeked, each []string
	f("PeekForeach", func(s streams.KStream[string, string]) {
		s.Peek(func(k, v string) { peeked = append(peeked, k) }).To("out")
		s.Foreach(func(k, v string) { each = append(each, v) })
	}, []kv{{"a", "1"}, {"b", "22"}, {"c", "333"}})
	if diff := cmp.Diff([]string{"a", "b", "c"}, peeked); diff != "" {
		t.Errorf("Peek saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1", "22", "333"}, each); diff != "" {
		t.Errorf("Foreach saw (-want +got):\n%s", diff)
	}
	t.Run("MapToInt", func(t *testing.T) {
		got := run[int](t, func(b *streams.Builder) {
			streams.MapValues(streams.Stream[string, string](b, "in"), func(k, v string) int { return len(v) }).To("out")
		}, abc)
		check(t, got, []kvi{{"a", 1}, {"b", 2}, {"c", 3}})
	})
}

func TestAggregations(t *testing.T) {
	type kvi = streams.KeyValue[string, int64]
	in := []kv{{"a", "x y"}, {"b", "y"}, {"a", "z"}}
	t.Run("CountAfterFlatMapRepartitions", func(t *testing.T) {
		got := run[int64](t, func(b *streams.Builder) {
			words := streams.FlatMap(streams.Stream[string, string](b, "in"), func(k, v string) []kv {
				var out []kv
				for _, w := range strings.Fields(v) {
					out = append(out, kv{w, w})
				}
				return out
			})
			words.GroupByKey().Count(streams.Named("counts")).ToStream().To("out")
		}, append(in, kv{"c", "x"}))
		check(t, got, []kvi{{"x", 1}, {"y", 1}, {"y", 2}, {"z", 1}, {"x", 2}})
	})
	t.Run("GroupByCount", func(t *testing.T) {
		got := run[int64](t, func(b *streams.Builder) {
			streams.GroupBy(streams.Stream[string, string](b, "in"), func(k, v string) string { return v }).Count().ToStream().To("out")
		}, []kv{{"a", "x"}, {"b", "x"}, {"c", "y"}})
		check(t, got, []kvi{{"x", 1}, {"x", 2}, {"y", 1}})
	})
	t.Run("Reduce", func(t *testing.T) {
		got := run[string](t, func(b *streams.Builder) {
			streams.Stream[string, string](b, "in").GroupByKey().Reduce(func(a, v string) string { return a + "+" + v }).ToStream().To("out")
		}, in)
		check(t, got, []kv{{"a", "x y"}, {"b", "y"}, {"a", "x y+z"}})
	})
	t.Run("Aggregate", func(t *testing.T) {
		got := run[int64](t, func(b *streams.Builder) {
			g := streams.Stream[string, string](b, "in").GroupByKey()
			streams.Aggregate(g, func() int64 { return 100 }, func(k, v string, agg int64) int64 { return agg + int64(len(v)) }).ToStream().To("out")
		}, in)
		check(t, got, []kvi{{"a", 103}, {"b", 101}, {"a", 104}})
	})
}

func TestStoreQueryAndTopology(t *testing.T) {
	b := streams.NewBuilder()
	streams.GroupBy(streams.Stream[string, string](b, "in"), func(k, v string) string { return v }).Count(streams.Named("counts"))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	desc := topo.Describe()
	for _, want := range []string{"Sub-topology: 0", "Sub-topology: 1", "counts-repartition", "stores: counts"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe() lacks %q:\n%s", want, desc)
		}
	}
	d, err := streams.NewTestDriver(topo, streams.DriverApplicationID("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	for _, v := range []string{"x", "y", "x"} {
		if err := in.Pipe("k", v); err != nil {
			t.Fatal(err)
		}
	}
	st, err := streams.DriverKeyValueStore[string, int64](d, "counts")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := st.Get("x"); v != 2 || !ok || err != nil {
		t.Errorf("Get(x) = %d, %v, %v; want 2, true, nil", v, ok, err)
	}
	got := map[string]int64{}
	if err := st.All(func(k string, v int64) bool { got[k] = v; return true }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"x": 2, "y": 1}, got); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
	// The changelog holds every update, keyed by the store key.
	cl, err := streams.NewTestOutputTopic[string, int64](d, "app-counts-changelog").ReadKeyValuesToMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"x": 2, "y": 1}, cl); diff != "" {
		t.Errorf("changelog (-want +got):\n%s", diff)
	}
	if tp := d.Topics(); !strings.Contains(strings.Join(tp, ","), "app-counts-repartition") {
		t.Errorf("topics %v lack the repartition topic", tp)
	}
}

func TestTables(t *testing.T) {
	b := streams.NewBuilder()
	tb := streams.Table[string, string](b, "in", streams.Named("t"))
	tb.Filter(func(k, v string) bool { return v != "drop" }).ToStream().To("filtered")
	streams.TableMapValues(tb, func(k, v string) int { return len(v) }).ToStream().To("lens")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	ts := time.UnixMilli(5)
	for _, r := range []kv{{"a", "1"}, {"b", "22"}, {"a", "drop"}} {
		if err := in.PipeAt(r.Key, r.Value, ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.PipeTombstone("b", ts); err != nil {
		t.Fatal(err)
	}
	got, err := streams.NewTestOutputTopic[string, string](d, "filtered").ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	want := []streams.OutputRecord[string, string]{
		{Key: "a", Value: "1", Timestamp: ts}, {Key: "b", Value: "22", Timestamp: ts},
		{Key: "a", Tombstone: true, Timestamp: ts}, {Key: "b", Tombstone: true, Timestamp: ts},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
	lens, err := streams.NewTestOutputTopic[string, int](d, "lens").ReadKeyValuesToMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"a": 4}, lens); diff != "" {
		t.Errorf("lens (-want +got):\n%s", diff)
	}
	st, err := streams.DriverKeyValueStore[string, string](d, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Get("b"); ok {
		t.Errorf("deleted key b still in the table store")
	}
}

func TestBuildErrors(t *testing.T) {
	b := streams.NewBuilder()
	streams.Stream[string, string](b, "in")
	streams.Stream[string, string](b, "in")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "more than one source") {
		t.Errorf("Build with a topic consumed twice: err = %v", err)
	}
	b = streams.NewBuilder()
	streams.Stream[string, string](b, "in", streams.KeySerde(streams.Int64())).To("out")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "key serde") {
		t.Errorf("Build with a mismatched serde: err = %v", err)
	}
}

func TestErrorHandler(t *testing.T) {
	b := streams.NewBuilder()
	streams.Stream[string, int64](b, "in").Filter(func(k string, v int64) bool {
		if v == 13 {
			panic("unlucky")
		}
		return true
	}).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var seen []streams.ErrorKind
	d, err := streams.NewTestDriver(topo, streams.DriverErrorHandler(func(e *streams.Error) streams.ErrorAction {
		seen = append(seen, e.Kind)
		return streams.Skip
	}))
	if err != nil {
		t.Fatal(err)
	}
	in := streams.NewTestInputTopic[string, int64](d, "in")
	if err := in.PipeRaw([]byte("k"), []byte("bad"), time.UnixMilli(1)); err != nil {
		t.Fatal(err)
	}
	if err := in.Pipe("k", 13); err != nil {
		t.Fatal(err)
	}
	if err := in.Pipe("k", 1); err != nil {
		t.Fatal(err)
	}
	got, _ := streams.NewTestOutputTopic[string, int64](d, "out").ReadKeyValues()
	if len(got) != 1 || got[0].Value != 1 {
		t.Errorf("out = %v, want only k=1", got)
	}
	if diff := cmp.Diff([]streams.ErrorKind{streams.ErrDeserialization, streams.ErrProcessing}, seen); diff != "" {
		t.Errorf("handler saw (-want +got):\n%s", diff)
	}
	// Without a handler the error is returned, never swallowed.
	d2, _ := streams.NewTestDriver(topo)
	if err := streams.NewTestInputTopic[string, int64](d2, "in").Pipe("k", 13); err == nil {
		t.Error("Pipe of a panicking record returned nil without a handler")
	}
}
