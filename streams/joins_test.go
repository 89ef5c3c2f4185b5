package streams_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

func str[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

type ev struct {
	topic string
	k, v  string
	ts    int64
}

// joinRun pipes events into their topics and returns "out" as strings.
func joinRun(t *testing.T, build func(b *streams.Builder), events []ev) []string {
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
	for _, e := range events {
		in := streams.NewTestInputTopic[string, string](d, e.topic)
		var err error
		if e.v == "" {
			err = in.PipeTombstone(e.k, ms(e.ts))
		} else {
			err = in.PipeAt(e.k, e.v, ms(e.ts))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rs, err := streams.NewTestOutputTopic[string, string](d, "out").ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.Tombstone {
			out = append(out, fmt.Sprintf("%s=<deleted>@%d", r.Key, r.Timestamp.UnixMilli()))
		} else {
			out = append(out, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli()))
		}
	}
	return out
}

func TestStreamStreamJoins(t *testing.T) {
	w := streams.JoinTimeDifference(10*time.Millisecond, 0)
	events := []ev{
		{"l", "a", "L1", 0}, {"r", "a", "R1", 5}, // match
		{"l", "b", "L2", 10}, // never matched
		{"r", "a", "R2", 30}, // outside L1's window
		{"r", "c", "R3", 31}, // never matched
		{"l", "x", "X", 100}, // advances stream time; closes all
	}
	cases := []struct {
		name  string
		build func(l, r streams.KStream[string, string])
		want  []string
	}{
		{"inner", func(l, r streams.KStream[string, string]) {
			streams.JoinStreams(l, r, func(k, a, b string) string { return a + "+" + b }, w).To("out")
		}, []string{"a=L1+R1@5"}},
		{"left", func(l, r streams.KStream[string, string]) {
			streams.LeftJoinStreams(l, r, func(k, a string, b *string) string { return a + "+" + str(b) }, w).To("out")
		}, []string{"a=L1+R1@5", "b=L2+nil@10"}},
		{"outer", func(l, r streams.KStream[string, string]) {
			streams.OuterJoinStreams(l, r, func(k string, a, b *string) string { return str(a) + "+" + str(b) }, w).To("out")
		}, []string{"a=L1+R1@5", "b=L2+nil@10", "a=nil+R2@30", "c=nil+R3@31"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := joinRun(t, func(b *streams.Builder) {
				c.build(streams.Stream[string, string](b, "l"), streams.Stream[string, string](b, "r"))
			}, events)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamStreamJoinOutOfOrder(t *testing.T) {
	// The right record arrives before the left one it matches, out of order.
	got := joinRun(t, func(b *streams.Builder) {
		l, r := streams.Stream[string, string](b, "l"), streams.Stream[string, string](b, "r")
		streams.LeftJoinStreams(l, r, func(k, a string, b *string) string { return a + "+" + str(b) },
			streams.JoinTimeDifference(5*time.Millisecond, 20*time.Millisecond)).To("out")
	}, []ev{{"r", "a", "R", 20}, {"l", "a", "L", 17}, {"l", "z", "Z", 100}})
	want := []string{"a=L+R@20"} // z@100 stays pending: its window closes at 125
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStreamTableJoins(t *testing.T) {
	events := []ev{{"s", "a", "1", 0}, {"t", "a", "A", 1}, {"s", "a", "2", 2}, {"s", "b", "3", 3}, {"t", "a", "", 4}, {"s", "a", "4", 5}}
	got := joinRun(t, func(b *streams.Builder) {
		tb := streams.Table[string, string](b, "t")
		streams.JoinStreamTable(streams.Stream[string, string](b, "s"), tb, func(k, v, tv string) string { return v + tv }).To("out")
	}, events)
	if diff := cmp.Diff([]string{"a=2A@2"}, got); diff != "" {
		t.Errorf("inner (-want +got):\n%s", diff)
	}
	got = joinRun(t, func(b *streams.Builder) {
		tb := streams.Table[string, string](b, "t")
		streams.LeftJoinStreamTable(streams.Stream[string, string](b, "s"), tb, func(k, v string, tv *string) string { return v + str(tv) }).To("out")
	}, events)
	if diff := cmp.Diff([]string{"a=1nil@0", "a=2A@2", "b=3nil@3", "a=4nil@5"}, got); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}

func TestStreamGlobalTableJoin(t *testing.T) {
	events := []ev{{"regions", "eu", "Europe", 0}, {"s", "u1", "eu", 1}, {"s", "u2", "us", 2}}
	got := joinRun(t, func(b *streams.Builder) {
		g := streams.GlobalTable[string, string](b, "regions")
		s := streams.Stream[string, string](b, "s")
		streams.LeftJoinGlobal(s, g, func(k, v string) string { return v }, func(k, v string, gv *string) string { return str(gv) }).To("out")
		streams.JoinGlobal(s, g, func(k, v string) string { return v }, func(k, v, gv string) string { return "inner:" + gv }).To("out")
	}, events)
	if diff := cmp.Diff([]string{"u1=Europe@1", "u1=inner:Europe@1", "u2=nil@2"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTableTableJoins(t *testing.T) {
	events := []ev{{"l", "a", "L1", 0}, {"r", "a", "R1", 1}, {"r", "b", "R2", 2}, {"l", "a", "", 3}, {"r", "b", "", 4}}
	cases := []struct {
		name  string
		build func(l, r streams.KTable[string, string])
		want  []string
	}{
		{"inner", func(l, r streams.KTable[string, string]) {
			streams.JoinTables(l, r, func(k, a, b string) string { return a + "+" + b }).ToStream().To("out")
		}, []string{"a=<deleted>@0", "a=L1+R1@1", "b=<deleted>@2", "a=<deleted>@3", "b=<deleted>@4"}},
		{"left", func(l, r streams.KTable[string, string]) {
			streams.LeftJoinTables(l, r, func(k, a string, b *string) string { return a + "+" + str(b) }).ToStream().To("out")
		}, []string{"a=L1+nil@0", "a=L1+R1@1", "b=<deleted>@2", "a=<deleted>@3", "b=<deleted>@4"}},
		{"outer", func(l, r streams.KTable[string, string]) {
			streams.OuterJoinTables(l, r, func(k string, a, b *string) string { return str(a) + "+" + str(b) }).ToStream().To("out")
		}, []string{"a=L1+nil@0", "a=L1+R1@1", "b=nil+R2@2", "a=nil+R1@3", "b=<deleted>@4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := joinRun(t, func(b *streams.Builder) {
				c.build(streams.Table[string, string](b, "l"), streams.Table[string, string](b, "r"))
			}, events)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestForeignKeyJoin(t *testing.T) {
	// orders (key order id, value customer id) join customers (key customer id).
	events := []ev{
		{"customers", "c1", "Ann", 0},
		{"orders", "o1", "c1", 1}, // joins Ann
		{"orders", "o2", "c2", 2}, // no customer yet
		{"customers", "c2", "Bob", 3},
		{"customers", "c1", "Anna", 4}, // updates o1
		{"orders", "o1", "c2", 5},      // o1 moves to Bob
		{"customers", "c1", "Zed", 6},  // o1 no longer subscribed to c1: nothing
		{"orders", "o2", "", 7},        // o2 deleted
	}
	build := func(left bool) func(b *streams.Builder) {
		return func(b *streams.Builder) {
			orders := streams.Table[string, string](b, "orders")
			customers := streams.Table[string, string](b, "customers")
			fk := func(v string) string { return v }
			var res streams.KTable[string, string]
			if left {
				res = streams.LeftJoinForeignKey(orders, customers, fk, func(k, o string, c *string) string { return o + ":" + str(c) }, streams.Named("fk"))
			} else {
				res = streams.JoinForeignKey(orders, customers, fk, func(k, o, c string) string { return o + ":" + c }, streams.Named("fk"))
			}
			res.ToStream().To("out")
		}
	}
	got := joinRun(t, build(false), events)
	want := []string{"o1=c1:Ann@1", "o2=<deleted>@2", "o2=c2:Bob@3", "o1=c1:Anna@4", "o1=c2:Bob@5", "o2=<deleted>@7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inner (-want +got):\n%s", diff)
	}
	got = joinRun(t, build(true), events)
	want = []string{"o1=c1:Ann@1", "o2=c2:nil@2", "o2=c2:Bob@3", "o1=c1:Anna@4", "o1=c2:Bob@5", "o2=<deleted>@7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}
