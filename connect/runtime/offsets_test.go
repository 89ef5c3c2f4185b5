package runtime

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOffsetKey(t *testing.T) {
	f := func(conn string, part map[string]any, want string) {
		t.Helper()
		got, err := offsetKey(conn, part)
		if err != nil || got != want {
			t.Errorf("offsetKey(%q, %v) = %q, %v; want %q", conn, part, got, err, want)
		}
		name, p, ok := decodeOffsetKey(got)
		if !ok || name != conn || len(p) != len(part) {
			t.Errorf("decodeOffsetKey(%q) = %q, %v, %v", got, name, p, ok)
		}
	}
	// Kafka's OffsetStorageWriter format: ["connector",{partition}], keys sorted.
	f("src", map[string]any{"filename": "/tmp/x"}, `["src",{"filename":"/tmp/x"}]`)
	f("pg", map[string]any{"table": "t", "schema": "public"}, `["pg",{"schema":"public","table":"t"}]`)
	f("s", map[string]any{}, `["s",{}]`)
	for _, bad := range []string{"", "[]", `["a"]`, `[1,{}]`, `["a",[]]`, "not json"} {
		if _, _, ok := decodeOffsetKey(bad); ok {
			t.Errorf("decodeOffsetKey(%q) succeeded", bad)
		}
	}
}

// TestFileOffsetStore: offsets survive a reopen; a nil offset deletes
// (KIP-875 tombstones); connectors do not see each other's offsets.
func TestFileOffsetStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "offsets")
	s, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := map[string]any{"f": "a"}, map[string]any{"f": "b"}
	put := func(s OffsetStore, conn string, offs ...SourceOffset) {
		t.Helper()
		if err := s.Put(ctx, conn, offs); err != nil {
			t.Fatal(err)
		}
	}
	put(s, "c1", SourceOffset{p1, map[string]any{"position": 10}}, SourceOffset{p2, map[string]any{"position": 20}})
	put(s, "c2", SourceOffset{p1, map[string]any{"position": 99}})
	put(s, "c1", SourceOffset{p1, map[string]any{"position": 11}}, SourceOffset{p2, nil})
	for _, st := range []OffsetStore{s, mustReopen(t, path)} {
		got, err := st.All(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		want := []SourceOffset{{Partition: p1, Offset: map[string]any{"position": float64(11)}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("All(c1) (-want +got):\n%s", diff)
		}
		off, err := st.Get(ctx, "c2", p1)
		if err != nil || off["position"] != float64(99) {
			t.Errorf("Get(c2) = %v, %v; want position 99", off, err)
		}
		if off, _ := st.Get(ctx, "c1", p2); off != nil {
			t.Errorf("Get(c1, deleted) = %v, want nil", off)
		}
	}
}

func mustReopen(t *testing.T, path string) *FileOffsetStore {
	t.Helper()
	s, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
