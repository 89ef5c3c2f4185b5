package vfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree returns every file under root (relative path → content) and every
// directory (relative path → "<dir>").
func tree(t *testing.T, fsys FS, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		names, err := fsys.List(dir)
		if err != nil {
			t.Fatalf("List(%q): %v", dir, err)
		}
		for _, n := range names {
			p, r := fsys.PathJoin(dir, n), rel+"/"+n
			fi, err := fsys.Stat(p)
			if err != nil {
				t.Fatalf("Stat(%q): %v", p, err)
			}
			if fi.IsDir() {
				out[r] = "<dir>"
				walk(p, r)
				continue
			}
			out[r] = readAll(t, fsys, p)
		}
	}
	walk(root, "")
	return out
}

func diffTrees(want, got map[string]string) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		w, wok := want[k]
		g, gok := got[k]
		if wok != gok || w != g {
			fmt.Fprintf(&b, "  %s: want %q (%v), got %q (%v)\n", k, w, wok, g, gok)
		}
	}
	return b.String()
}

// newSyncLogDirs returns a journal directory and a root holding one
// baseline file.
func newSyncLogDirs(t *testing.T) (jdir, root string) {
	t.Helper()
	base := t.TempDir()
	jdir, root = filepath.Join(base, "journal"), filepath.Join(base, "data")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "old"), []byte("baseline"), 0o644); err != nil {
		t.Fatal(err)
	}
	return jdir, root
}

// The patterns Kavka uses, each checked against the strict model: an
// append-only file, a checkpoint rewritten by tmp+fsync+rename+dir fsync,
// a truncation, a removal.
func TestSyncLogDrop(t *testing.T) {
	jdir, root := newSyncLogDirs(t)
	l, err := NewSyncLog(jdir, root)
	if err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(root, n) }

	seg := mustCreate(t, l, p("seg"), "durable")
	mustSync(t, seg)
	syncDir(t, l, root)
	seg.Write([]byte("+lost"))

	tr := mustCreate(t, l, p("tr"), "0123456789")
	mustSync(t, tr)
	syncDir(t, l, root)
	if err := tr.Truncate(3); err != nil { // not synced: comes back whole
		t.Fatal(err)
	}
	tr.Write([]byte("abc"))

	ck := mustCreate(t, l, p("ck.tmp"), "v2")
	mustSync(t, ck)
	ck.Close()
	if err := l.Rename(p("ck.tmp"), p("old")); err != nil { // not dir-synced: v1 ("baseline") stays
		t.Fatal(err)
	}

	mustCreate(t, l, p("new"), "never dir-synced").Sync()
	if err := l.Remove(p("seg")); err != nil { // its entry is durable: it comes back
		t.Fatal(err)
	}
	seg.Close()
	tr.Close()
	l.Close()

	rep, err := DropUnsynced(jdir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drop: %s", rep)
	want := map[string]string{"/old": "baseline", "/seg": "durable", "/tr": "0123456789"}
	if d := diffTrees(want, tree(t, Default, root)); d != "" {
		t.Errorf("after the drop:\n%s", d)
	}
	if _, err := DropUnsynced(jdir); err == nil {
		t.Error("a second DropUnsynced succeeded without a journal")
	}
}

// A random sequence of operations on MemFS and on a SyncLog over real
// files; MemFS.CrashClone and DropUnsynced must agree.
func TestSyncLogMatchesMemFS(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { syncLogVsMem(t, seed) })
	}
}

func syncLogVsMem(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	jdir, root := newSyncLogDirs(t)
	l, err := NewSyncLog(jdir, root)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMem()
	m.MkdirAll("/data", 0o755)
	mustCreate(t, m, "/data/old", "baseline").Sync()
	syncDir(t, m, "/data")
	syncDir(t, m, "/")

	type pair struct{ m, o File }
	open := map[string]pair{} // relative path → handles
	dirs := []string{"", "a", "a/b"}
	names := []string{"x", "y", "z", "old"}
	randPath := func() string { return strings.TrimPrefix(pick(rng, dirs)+"/"+pick(rng, names), "/") }
	mp := func(rel string) string { return "/data/" + rel }
	op := func(rel string) string { return filepath.Join(root, rel) }
	closeAll := func(rel string) {
		if h, ok := open[rel]; ok {
			h.m.Close()
			h.o.Close()
			delete(open, rel)
		}
	}
	same := func(what string, em, eo error) bool {
		if (em == nil) != (eo == nil) {
			t.Fatalf("%s: mem %v, synclog %v", what, em, eo)
		}
		return em == nil
	}
	var log []string
	for range 60 {
		switch k := rng.IntN(10); k {
		case 0:
			d := pick(rng, dirs[1:])
			log = append(log, "mkdir "+d)
			same("mkdir", m.MkdirAll(mp(d), 0o755), l.MkdirAll(op(d), 0o755))
		case 1, 2:
			rel := randPath()
			closeAll(rel)
			log = append(log, "create "+rel)
			fm, em := m.Create(mp(rel))
			fo, eo := l.Create(op(rel))
			if same("create "+rel, em, eo) {
				open[rel] = pair{fm, fo}
			}
		case 3, 4:
			for rel, h := range open {
				b := make([]byte, 1+rng.IntN(20))
				for i := range b {
					b[i] = byte('a' + rng.IntN(26))
				}
				log = append(log, fmt.Sprintf("write %s %q", rel, b))
				_, em := h.m.Write(b)
				_, eo := h.o.Write(b)
				same("write", em, eo)
				break
			}
		case 5:
			for rel, h := range open {
				log = append(log, "sync "+rel)
				same("sync", h.m.Sync(), h.o.Sync())
				break
			}
		case 6:
			d := pick(rng, dirs)
			dm, em := m.OpenDir(mp(d))
			do, eo := l.OpenDir(op(d))
			if same("opendir "+d, em, eo) {
				log = append(log, "syncdir "+d)
				same("syncdir", dm.Sync(), do.Sync())
				dm.Close()
				do.Close()
			}
		case 7:
			for rel, h := range open {
				sz, _ := h.m.Size()
				n := rng.Int64N(sz + 1)
				log = append(log, fmt.Sprintf("truncate %s %d", rel, n))
				same("truncate", h.m.Truncate(n), h.o.Truncate(n))
				break
			}
		case 8:
			a, b := randPath(), randPath()
			if a == b {
				continue
			}
			closeAll(a)
			closeAll(b)
			log = append(log, "rename "+a+" "+b)
			same("rename", m.Rename(mp(a), mp(b)), l.Rename(op(a), op(b)))
		case 9:
			rel := randPath()
			closeAll(rel)
			if rng.IntN(4) == 0 {
				rel = pick(rng, dirs[1:])
				log = append(log, "removeall "+rel)
				same("removeall", m.RemoveAll(mp(rel)), l.RemoveAll(op(rel)))
				continue
			}
			log = append(log, "remove "+rel)
			same("remove", m.Remove(mp(rel)), l.Remove(op(rel)))
		}
	}
	if d := diffTrees(tree(t, m, "/data"), tree(t, l, root)); d != "" {
		t.Fatalf("live trees differ:\n%s", d)
	}
	for rel := range open {
		closeAll(rel)
	}
	l.Close()
	want := tree(t, m.CrashClone(), "/data")
	rep, err := DropUnsynced(jdir)
	if err != nil {
		t.Fatalf("%v\nops:\n%s", err, strings.Join(log, "\n"))
	}
	if d := diffTrees(want, tree(t, Default, root)); d != "" {
		t.Fatalf("after the crash (drop: %s):\n%s\nops:\n%s", rep, d, strings.Join(log, "\n"))
	}
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }
