package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers that fail the test on error.

func mustCreate(t *testing.T, fsys FS, name string, data string) File {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatalf("Write(%q): %v", name, err)
	}
	return f
}

func mustSync(t *testing.T, f File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func syncDir(t *testing.T, fsys FS, dir string) {
	t.Helper()
	d, err := fsys.OpenDir(dir)
	if err != nil {
		t.Fatalf("OpenDir(%q): %v", dir, err)
	}
	defer d.Close()
	mustSync(t, d)
}

// readAll returns the content of name, or "<absent>" if it does not exist.
func readAll(t *testing.T, fsys FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatalf("Size(%q): %v", name, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(%q) = %d, %v; want %d bytes", name, n, err, len(b))
	}
	return string(b)
}

// TestFSConformance runs the same operations against the OS and the memory
// file systems, so that MemFS behaves like the real thing.
func TestFSConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (FS, string)
	}{
		{"os", func(t *testing.T) (FS, string) { return Default, t.TempDir() }},
		{"mem", func(t *testing.T) (FS, string) { return NewMem(), "/data" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, root := tc.fs(t)
			p := func(elem ...string) string { return fsys.PathJoin(append([]string{root}, elem...)...) }
			if err := fsys.MkdirAll(p("a", "b"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.MkdirAll(p("a", "b"), 0o755); err != nil {
				t.Fatalf("MkdirAll twice: %v", err)
			}

			f := mustCreate(t, fsys, p("a", "f"), "hello")
			if _, err := f.Write([]byte(" world")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, p("a", "f")); got != "hello world" {
				t.Errorf("content = %q", got)
			}
			if fi, err := fsys.Stat(p("a", "f")); err != nil || fi.Size() != 11 || fi.IsDir() || fi.Name() != "f" {
				t.Errorf("Stat = %v, %v", fi, err)
			}
			if fi, err := fsys.Stat(p("a", "b")); err != nil || !fi.IsDir() {
				t.Errorf("Stat(dir) = %v, %v", fi, err)
			}

			// Truncate then write: the write goes to the new end.
			if err := f.Truncate(3); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("XY")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, p("a", "f")); got != "helXY" {
				t.Errorf("after truncate+write = %q, want helXY", got)
			}
			// Extending truncate fills with zeros.
			if err := f.Truncate(7); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, p("a", "f")); got != "helXY\x00\x00" {
				t.Errorf("after extend = %q", got)
			}
			if sz, err := f.Size(); err != nil || sz != 7 {
				t.Errorf("Size = %d, %v", sz, err)
			}
			buf := make([]byte, 4)
			if n, err := f.ReadAt(buf, 5); n != 2 || err != io.EOF {
				t.Errorf("ReadAt past end = %d, %v; want 2, EOF", n, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("x")); err == nil {
				t.Error("Write after Close succeeded")
			}

			// OpenAppend appends; Open is read-only.
			a, err := fsys.OpenAppend(p("a", "f"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Write([]byte("!")); err != nil {
				t.Fatal(err)
			}
			a.Close()
			if got := readAll(t, fsys, p("a", "f")); got != "helXY\x00\x00!" {
				t.Errorf("after append = %q", got)
			}
			r, err := fsys.Open(p("a", "f"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Write([]byte("x")); err == nil {
				t.Error("Write to read-only file succeeded")
			}
			r.Close()

			// Create truncates an existing file.
			mustCreate(t, fsys, p("a", "f"), "new").Close()
			if got := readAll(t, fsys, p("a", "f")); got != "new" {
				t.Errorf("after re-create = %q", got)
			}

			// Missing files and parents.
			for _, op := range []struct {
				name string
				err  error
			}{
				{"Open", func() error { _, err := fsys.Open(p("nope")); return err }()},
				{"OpenAppend", func() error { _, err := fsys.OpenAppend(p("nope")); return err }()},
				{"Create in missing dir", func() error { _, err := fsys.Create(p("nodir", "x")); return err }()},
				{"Stat", func() error { _, err := fsys.Stat(p("nope")); return err }()},
				{"Remove", fsys.Remove(p("nope"))},
				{"Rename", fsys.Rename(p("nope"), p("x"))},
				{"List", func() error { _, err := fsys.List(p("nope")); return err }()},
			} {
				if !errors.Is(op.err, fs.ErrNotExist) {
					t.Errorf("%s of missing path: err = %v, want ErrNotExist", op.name, op.err)
				}
			}
			if err := fsys.RemoveAll(p("nope")); err != nil {
				t.Errorf("RemoveAll(missing) = %v", err)
			}

			// Rename replaces; List is sorted.
			mustCreate(t, fsys, p("a", "g"), "gee").Close()
			if err := fsys.Rename(p("a", "g"), p("a", "f")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, p("a", "f")); got != "gee" {
				t.Errorf("after rename = %q", got)
			}
			mustCreate(t, fsys, p("a", "c"), "").Close()
			names, err := fsys.List(p("a"))
			if err != nil || fmt.Sprint(names) != "[b c f]" {
				t.Errorf("List = %v, %v; want [b c f]", names, err)
			}

			// Remove refuses a non-empty directory; RemoveAll does not.
			mustCreate(t, fsys, p("a", "b", "x"), "").Close()
			if err := fsys.Remove(p("a", "b")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				t.Errorf("Remove(non-empty dir) = %v, want ENOTEMPTY", err)
			}
			if err := fsys.RemoveAll(p("a")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(p("a")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat after RemoveAll = %v", err)
			}
		})
	}
}

func TestMemFd(t *testing.T) {
	m := NewMem()
	f := mustCreate(t, m, "f", "")
	if f.Fd() != NoFd {
		t.Errorf("Fd = %d, want NoFd", f.Fd())
	}
}

func TestMemCrashFileData(t *testing.T) {
	m := NewMem()
	syncDir(t, m, "/") // nothing yet; harmless
	f := mustCreate(t, m, "/f", "durable")
	syncDir(t, m, "/")
	mustSync(t, f)
	if _, err := f.Write([]byte("-lost")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m, "/f"); got != "durable-lost" {
		t.Fatalf("before crash = %q", got)
	}
	c := m.CrashClone()
	if got := readAll(t, c, "/f"); got != "durable" {
		t.Errorf("after crash = %q, want %q", got, "durable")
	}
	// The original is untouched and the clone is independent.
	if got := readAll(t, m, "/f"); got != "durable-lost" {
		t.Errorf("original after crash = %q", got)
	}
	cf, err := c.OpenAppend("/f")
	if err != nil {
		t.Fatal(err)
	}
	cf.Write([]byte("+clone"))
	if got := readAll(t, m, "/f"); got != "durable-lost" {
		t.Errorf("original after writing clone = %q", got)
	}
	// Everything in the clone is durable.
	if got := readAll(t, c.CrashClone(), "/f"); got != "durable" {
		t.Errorf("clone of clone = %q", got)
	}
}

func TestMemCrashTruncate(t *testing.T) {
	f := func(ops func(m *MemFS, f File), want string) {
		t.Helper()
		m := NewMem()
		file := mustCreate(t, m, "/f", "0123456789")
		syncDir(t, m, "/")
		mustSync(t, file)
		ops(m, file)
		if got := readAll(t, m.CrashClone(), "/f"); got != want {
			t.Errorf("after crash = %q, want %q", got, want)
		}
	}
	// An unsynced truncate is lost.
	f(func(m *MemFS, file File) { file.Truncate(4) }, "0123456789")
	// Unsynced truncate and rewrite: the old durable bytes come back.
	f(func(m *MemFS, file File) { file.Truncate(4); file.Write([]byte("abcdefgh")) }, "0123456789")
	// A synced truncate is kept.
	f(func(m *MemFS, file File) { file.Truncate(4); file.Sync() }, "0123")
	// Truncate, sync, write more: only the synced part.
	f(func(m *MemFS, file File) { file.Truncate(4); file.Sync(); file.Write([]byte("zz")) }, "0123")
	// An unsynced extension is lost.
	f(func(m *MemFS, file File) { file.Truncate(20) }, "0123456789")
	// Re-creating (O_TRUNC) without sync keeps the old content.
	f(func(m *MemFS, file File) { mustCreate(t, m, "/f", "new") }, "0123456789")
	f(func(m *MemFS, file File) { mustSync(t, mustCreate(t, m, "/f", "new")) }, "new")
}

func TestMemCrashDirectoryEntries(t *testing.T) {
	f := func(name string, ops func(m *MemFS), want map[string]string) {
		t.Helper()
		m := NewMem()
		if err := m.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		syncDir(t, m, "/")
		old := mustCreate(t, m, "/d/old", "old")
		mustSync(t, old)
		syncDir(t, m, "/d")
		ops(m)
		c := m.CrashClone()
		for file, w := range want {
			if got := readAll(t, c, file); got != w {
				t.Errorf("%s: %s after crash = %q, want %q", name, file, got, w)
			}
		}
	}
	f("create, file synced, dir not", func(m *MemFS) {
		mustSync(t, mustCreate(t, m, "/d/new", "x"))
	}, map[string]string{"/d/new": "<absent>", "/d/old": "old"})
	f("create, dir synced, file not", func(m *MemFS) {
		mustCreate(t, m, "/d/new", "x")
		syncDir(t, m, "/d")
	}, map[string]string{"/d/new": ""})
	f("create, both synced", func(m *MemFS) {
		mustSync(t, mustCreate(t, m, "/d/new", "x"))
		syncDir(t, m, "/d")
	}, map[string]string{"/d/new": "x"})
	f("remove without dir sync", func(m *MemFS) {
		m.Remove("/d/old")
	}, map[string]string{"/d/old": "old"})
	f("remove with dir sync", func(m *MemFS) {
		m.Remove("/d/old")
		syncDir(t, m, "/d")
	}, map[string]string{"/d/old": "<absent>"})
	f("rename without dir sync", func(m *MemFS) {
		m.Rename("/d/old", "/d/new")
	}, map[string]string{"/d/old": "old", "/d/new": "<absent>"})
	f("rename with dir sync", func(m *MemFS) {
		m.Rename("/d/old", "/d/new")
		syncDir(t, m, "/d")
	}, map[string]string{"/d/old": "<absent>", "/d/new": "old"})
	f("atomic checkpoint replace", func(m *MemFS) {
		tmp := mustCreate(t, m, "/d/old.tmp", "next")
		mustSync(t, tmp)
		m.Rename("/d/old.tmp", "/d/old")
		syncDir(t, m, "/d")
	}, map[string]string{"/d/old": "next", "/d/old.tmp": "<absent>"})
	f("replace by rename, dir unsynced", func(m *MemFS) {
		tmp := mustCreate(t, m, "/d/old.tmp", "next")
		mustSync(t, tmp)
		m.Rename("/d/old.tmp", "/d/old")
	}, map[string]string{"/d/old": "old", "/d/old.tmp": "<absent>"})
	f("new directory needs its parent synced", func(m *MemFS) {
		m.MkdirAll("/e", 0o755)
		mustSync(t, mustCreate(t, m, "/e/x", "x"))
		syncDir(t, m, "/e")
	}, map[string]string{"/e/x": "<absent>"})
	f("new directory with parent synced", func(m *MemFS) {
		m.MkdirAll("/e", 0o755)
		mustSync(t, mustCreate(t, m, "/e/x", "x"))
		syncDir(t, m, "/e")
		syncDir(t, m, "/")
	}, map[string]string{"/e/x": "x"})
	f("RemoveAll without parent sync", func(m *MemFS) {
		m.RemoveAll("/d")
	}, map[string]string{"/d/old": "old"})
	f("RemoveAll with parent sync", func(m *MemFS) {
		m.RemoveAll("/d")
		syncDir(t, m, "/")
	}, map[string]string{"/d/old": "<absent>"})
	f("removed open file keeps data but not its name", func(m *MemFS) {
		g, _ := m.OpenAppend("/d/old")
		m.Remove("/d/old")
		syncDir(t, m, "/d")
		g.Write([]byte("more"))
		mustSync(t, g)
	}, map[string]string{"/d/old": "<absent>"})
}

func TestMemCrashTorn(t *testing.T) {
	const seed = 42
	rng := rand.New(rand.NewPCG(seed, 0))
	lengths := map[int]bool{}
	for i := range 200 {
		m := NewMem()
		f := mustCreate(t, m, "/f", "sync")
		syncDir(t, m, "/")
		mustSync(t, f)
		f.Write([]byte("0123456789"))
		got := readAll(t, m.CrashCloneTorn(rng), "/f")
		full := "sync0123456789"
		if len(got) < 4 || got != full[:len(got)] {
			t.Fatalf("seed %d iteration %d: torn content %q is not a prefix of %q with the synced part", seed, i, got, full)
		}
		lengths[len(got)] = true
	}
	if len(lengths) < 8 {
		t.Errorf("seed %d: only %d distinct torn lengths in 200 tries", seed, len(lengths))
	}

	// A truncated file comes back as the synced state or as the truncated
	// prefix plus a prefix of the later writes.
	outcomes := map[string]bool{}
	for range 200 {
		m := NewMem()
		f := mustCreate(t, m, "/f", "0123456789")
		syncDir(t, m, "/")
		mustSync(t, f)
		f.Truncate(4)
		f.Write([]byte("ab"))
		got := readAll(t, m.CrashCloneTorn(rng), "/f")
		switch got {
		case "0123456789", "0123", "0123a", "0123ab":
			outcomes[got] = true
		default:
			t.Fatalf("seed %d: torn truncated content %q", seed, got)
		}
	}
	if len(outcomes) != 4 {
		t.Errorf("seed %d: outcomes %v, want all 4", seed, outcomes)
	}
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	mustCreate(t, m, "/f", "x").Close()
	m.MkdirAll("/d/e", 0o755)
	f := func(name string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	_, err := m.OpenDir("/f")
	f("OpenDir(file)", err, syscall.ENOTDIR)
	_, err = m.Open("/d")
	f("Open(dir)", err, syscall.EISDIR)
	_, err = m.Create("/d")
	f("Create(dir)", err, syscall.EISDIR)
	_, err = m.Create("/f/x")
	f("Create under file", err, syscall.ENOTDIR)
	f("MkdirAll over file", m.MkdirAll("/f/x", 0o755), syscall.ENOTDIR)
	f("Rename dir into itself", m.Rename("/d", "/d/e/x"), syscall.EINVAL)
	f("Rename file over dir", m.Rename("/f", "/d"), syscall.EISDIR)
	f("Rename dir over non-empty dir", func() error { m.MkdirAll("/g", 0o755); return m.Rename("/g", "/d") }(), syscall.ENOTEMPTY)
	f("RemoveAll root", m.RemoveAll("/"), syscall.EINVAL)
	d, _ := m.OpenDir("/d")
	_, err = d.Write([]byte("x"))
	f("Write(dir)", err, syscall.EISDIR)
	d.Close()
	f("Close twice", d.Close(), os.ErrClosed)
	f("Sync closed", d.Sync(), os.ErrClosed)
	r, _ := m.Open("/f")
	f("Truncate read-only", r.Truncate(0), syscall.EBADF)
	_, err = r.ReadAt(make([]byte, 1), -1)
	f("ReadAt negative", err, syscall.EINVAL)
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestMemModTime(t *testing.T) {
	m := NewMem()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	m.SetClock(clk)
	f := mustCreate(t, m, "/f", "x")
	clk.t = time.Unix(2000, 0)
	f.Write([]byte("y"))
	fi, err := m.Stat("/f")
	if err != nil || !fi.ModTime().Equal(time.Unix(2000, 0)) {
		t.Errorf("ModTime = %v, %v; want 2000s", fi.ModTime(), err)
	}
}

// TestMemConcurrentReadersOneWriter runs readers against one appending writer
// (run with -race). Every read sees a prefix of the final content.
func TestMemConcurrentReadersOneWriter(t *testing.T) {
	m := NewMem()
	w := mustCreate(t, m, "/f", "")
	r, err := m.Open("/f")
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 500
	chunk := bytes.Repeat([]byte("abcdefgh"), 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for i := range 2000 {
				size, _ := r.Size()
				if size == 0 {
					continue
				}
				off := int64(i) % size
				n, err := r.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					t.Errorf("ReadAt: %v", err)
					return
				}
				for j := range n {
					if buf[j] != chunk[(off+int64(j))%int64(len(chunk))] {
						t.Errorf("byte at %d = %q", off+int64(j), buf[j])
						return
					}
				}
			}
		}()
	}
	for i := range chunks {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			w.Sync()
			_ = m.CrashClone()
		}
	}
	wg.Wait()
}
