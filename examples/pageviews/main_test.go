package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

func TestPageViewsPerRegionPerMinute(t *testing.T) {
	topo, err := topology("views", "users", "out")
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	users := streams.NewTestInputTopic[string, string](d, "users")
	views := streams.NewTestInputTopic[string, PageView](d, "views")
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for u, r := range map[string]string{"ann": "eu", "bob": "us"} {
		if err := users.PipeAt(u, r, t0); err != nil {
			t.Fatal(err)
		}
	}
	view := func(user string, at time.Duration) {
		t.Helper()
		if err := views.Pipe(user, PageView{User: user, Page: "/", Time: t0.Add(at)}); err != nil {
			t.Fatal(err)
		}
	}
	view("ann", 5*time.Second)
	view("bob", 10*time.Second)
	view("ann", 50*time.Second)
	view("eve", 55*time.Second)  // no region
	view("ann", 65*time.Second)  // next minute; minute 0 still in grace
	view("bob", 58*time.Second)  // out of order, within grace
	view("ann", 71*time.Second)  // closes minute 0 (60s + 10s grace)
	view("ann", 20*time.Second)  // too late: dropped
	view("bob", 135*time.Second) // closes minute 1
	got, err := streams.NewTestOutputTopic[string, string](d, "out").ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	want := []streams.KeyValue[string, string]{
		{Key: "eu@2026-01-01T10:00:00Z", Value: "2"},
		{Key: "unknown@2026-01-01T10:00:00Z", Value: "1"},
		{Key: "us@2026-01-01T10:00:00Z", Value: "2"},
		{Key: "eu@2026-01-01T10:01:00Z", Value: "2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := d.DroppedRecords(); n != 1 {
		t.Errorf("dropped %d late records, want 1", n)
	}
}
