package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

func TestWordCount(t *testing.T) {
	topo, err := topology("in", "out")
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	for _, line := range []string{"Hello streams", "hello, Kavka!", ""} {
		if err := in.Pipe("", line); err != nil {
			t.Fatal(err)
		}
	}
	got, err := streams.NewTestOutputTopic[string, int64](d, "out").ReadKeyValuesToMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"hello": 2, "streams": 1, "kavka": 1}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	st, err := streams.DriverKeyValueStore[string, int64](d, "word-counts")
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := st.Get("hello"); n != 2 {
		t.Errorf("store word-counts[hello] = %d, want 2", n)
	}
}
