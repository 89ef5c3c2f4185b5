package vfs

import (
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
)

// scripted fails the listed (op, path) pairs once each, in any order.
type scripted struct {
	mu     sync.Mutex
	faults map[Op]map[string]Fault
	calls  []Op
}

func (s *scripted) Inject(op Op, path string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op)
	f := s.faults[op][path]
	delete(s.faults[op], path)
	return f
}

func TestFaultyInjects(t *testing.T) {
	mem := NewMem()
	mem.MkdirAll("/d", 0o755)
	mustCreate(t, mem, "/d/keep", "keep").Close()
	f := func(op Op, path string, flt Fault, do func(fs FS) error, want error) {
		t.Helper()
		inj := &scripted{faults: map[Op]map[string]Fault{op: {path: flt}}}
		fs := NewFaulty(mem, inj)
		err := do(fs)
		if !errors.Is(err, want) {
			t.Errorf("%s %s: err = %v, want %v", op, path, err, want)
		}
		var pe *os.PathError
		var le *os.LinkError
		if err != nil && !errors.As(err, &pe) && !errors.As(err, &le) {
			t.Errorf("%s %s: err %T is not a path error", op, path, err)
		}
		// The fault is one-shot: the same operation now succeeds.
		if err := do(fs); err != nil {
			t.Errorf("%s %s: retry: %v", op, path, err)
		}
	}
	f(OpCreate, "/d/a", Fault{Err: syscall.ENOSPC}, func(fs FS) error { _, err := fs.Create("/d/a"); return err }, syscall.ENOSPC)
	f(OpOpen, "/d/keep", Fault{Err: syscall.EIO}, func(fs FS) error { _, err := fs.Open("/d/keep"); return err }, syscall.EIO)
	f(OpOpen, "/d", Fault{Err: syscall.EIO}, func(fs FS) error { _, err := fs.OpenDir("/d"); return err }, syscall.EIO)
	f(OpMkdir, "/e", Fault{Err: syscall.ENOSPC}, func(fs FS) error { return fs.MkdirAll("/e", 0o755) }, syscall.ENOSPC)
	f(OpSync, "/d/keep", Fault{Err: syscall.EIO}, func(fs FS) error {
		file, err := fs.OpenAppend("/d/keep")
		if err != nil {
			return err
		}
		return file.Sync()
	}, syscall.EIO)
	f(OpSync, "/d", Fault{Err: syscall.EIO}, func(fs FS) error {
		d, err := fs.OpenDir("/d")
		if err != nil {
			return err
		}
		return d.Sync()
	}, syscall.EIO)
	f(OpTruncate, "/d/keep", Fault{Err: syscall.EIO}, func(fs FS) error {
		file, err := fs.OpenAppend("/d/keep")
		if err != nil {
			return err
		}
		return file.Truncate(4)
	}, syscall.EIO)
	f(OpRead, "/d/keep", Fault{Err: syscall.EIO}, func(fs FS) error {
		file, err := fs.Open("/d/keep")
		if err != nil {
			return err
		}
		_, err = file.ReadAt(make([]byte, 4), 0)
		return err
	}, syscall.EIO)
	f(OpRename, "/d/r1", Fault{Err: syscall.EIO}, func(fs FS) error {
		mustCreate(t, mem, "/d/r1", "").Close()
		return fs.Rename("/d/r1", "/d/r2")
	}, syscall.EIO)
	f(OpRemove, "/d/r2", Fault{Err: syscall.EIO}, func(fs FS) error {
		mustCreate(t, mem, "/d/r2", "").Close()
		return fs.Remove("/d/r2")
	}, syscall.EIO)
}

func TestFaultyFailedOpsChangeNothing(t *testing.T) {
	mem := NewMem()
	always := InjectorFunc(func(op Op, path string) Fault { return Fault{Err: syscall.EIO} })
	fs := NewFaulty(mem, always)
	if _, err := fs.Create("/x"); err == nil {
		t.Fatal("Create succeeded")
	}
	if _, err := mem.Stat("/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Create made the file: %v", err)
	}
	mustCreate(t, mem, "/f", "abc").Close()
	if err := fs.Rename("/f", "/g"); err == nil || readAll(t, mem, "/f") != "abc" {
		t.Errorf("failed Rename: %v, /f = %q", err, readAll(t, mem, "/f"))
	}
	if err := fs.RemoveAll("/f"); err == nil || readAll(t, mem, "/f") != "abc" {
		t.Errorf("failed RemoveAll: %v", err)
	}
}

func TestFaultyShortWriteAndFailedSync(t *testing.T) {
	mem := NewMem()
	var mu sync.Mutex
	next := Fault{}
	inj := InjectorFunc(func(op Op, path string) Fault {
		mu.Lock()
		defer mu.Unlock()
		if op != OpWrite && op != OpSync {
			return Fault{}
		}
		f := next
		next = Fault{}
		return f
	})
	set := func(f Fault) { mu.Lock(); next = f; mu.Unlock() }
	fs := NewFaulty(mem, inj)
	file, err := fs.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	syncDir(t, mem, "/")
	set(Fault{Err: syscall.ENOSPC, Written: 3})
	n, err := file.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("short write = %d, %v; want 3, ENOSPC", n, err)
	}
	set(Fault{Err: syscall.ENOSPC, Written: 100})
	if n, err := file.Write([]byte("gh")); n != 2 || err == nil {
		t.Errorf("short write clamped = %d, %v; want 2 and an error", n, err)
	}
	if got := readAll(t, mem, "/f"); got != "abcgh" {
		t.Errorf("content = %q, want abcgh", got)
	}
	// A failed fsync leaves the data not durable.
	set(Fault{Err: syscall.EIO})
	if err := file.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Sync = %v, want EIO", err)
	}
	if got := readAll(t, mem.CrashClone(), "/f"); got != "" {
		t.Errorf("after failed sync and crash: %q, want empty", got)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, mem.CrashClone(), "/f"); got != "abcgh" {
		t.Errorf("after sync and crash: %q", got)
	}
	if file.Fd() != NoFd {
		t.Errorf("Fd = %d, want the inner NoFd", file.Fd())
	}
}

func TestRandomInjector(t *testing.T) {
	const seed = 7
	run := func() []error {
		inj := NewRandomInjector(rand.New(rand.NewPCG(seed, 0)), 0.3, OpWrite)
		fs := NewFaulty(NewMem(), inj)
		file, err := fs.Create("/f")
		if err != nil {
			t.Fatalf("Create failed though only writes are faulty: %v", err)
		}
		var errs []error
		for range 200 {
			_, err := file.Write([]byte("0123456789"))
			errs = append(errs, err)
		}
		return errs
	}
	a, b := run(), run()
	failed := 0
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) {
			t.Fatalf("seed %d: run differs at write %d", seed, i)
		}
		if a[i] != nil {
			failed++
			if !errors.Is(a[i], syscall.ENOSPC) && !errors.Is(a[i], syscall.EIO) {
				t.Errorf("unexpected error %v", a[i])
			}
		}
	}
	if failed < 30 || failed > 90 {
		t.Errorf("seed %d: %d of 200 writes failed, want about 60", seed, failed)
	}
}

func TestFaultyOverOS(t *testing.T) {
	dir := t.TempDir()
	fs := NewFaulty(Default, InjectorFunc(func(op Op, path string) Fault {
		if op == OpWrite {
			return Fault{Err: syscall.ENOSPC, Written: 2}
		}
		return Fault{}
	}))
	file, err := fs.Create(fs.PathJoin(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if n, err := file.Write([]byte("abcd")); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Write = %d, %v", n, err)
	}
	if got := readAll(t, Default, fs.PathJoin(dir, "f")); got != "ab" {
		t.Errorf("content = %q", got)
	}
	if file.Fd() == NoFd {
		t.Error("Fd of an OS file through Faulty is NoFd")
	}
}
