package vfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
)

// Op is a kind of file-system operation a fault can be injected into.
type Op int

// The operations an Injector is asked about.
const (
	OpWrite    Op = iota + 1 // File.Write
	OpSync                   // File.Sync, of a file or of a directory
	OpCreate                 // FS.Create
	OpRename                 // FS.Rename (the path is the old name)
	OpRemove                 // FS.Remove and FS.RemoveAll
	OpTruncate               // File.Truncate
	OpOpen                   // FS.Open, FS.OpenAppend and FS.OpenDir
	OpMkdir                  // FS.MkdirAll
	OpRead                   // File.ReadAt
)

func (o Op) String() string {
	switch o {
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpCreate:
		return "create"
	case OpRename:
		return "rename"
	case OpRemove:
		return "remove"
	case OpTruncate:
		return "truncate"
	case OpOpen:
		return "open"
	case OpMkdir:
		return "mkdir"
	case OpRead:
		return "read"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Fault is an Injector's decision about one operation. The zero Fault lets
// the operation through.
type Fault struct {
	// Err, if not nil, fails the operation with this error (typically
	// syscall.ENOSPC or syscall.EIO), wrapped in an *os.PathError so that
	// errors.Is(err, syscall.ENOSPC) holds. The operation is not passed to
	// the inner file system, except for the prefix of a short write.
	Err error
	// Written, for a failing write, is how many bytes (at most the length of
	// the write) reach the file before the error: a short write.
	Written int
}

// Injector decides, for each operation, whether it fails. It must be safe
// for concurrent use.
type Injector interface {
	Inject(op Op, path string) Fault
}

// InjectorFunc adapts a function to an Injector.
type InjectorFunc func(op Op, path string) Fault

// Inject calls f.
func (f InjectorFunc) Inject(op Op, path string) Fault { return f(op, path) }

// RandomInjector fails each listed operation with probability Prob, with
// ENOSPC or EIO chosen at random; a failing write is short (a random prefix
// is written) half of the time. Seed it for reproducible runs. It is safe
// for concurrent use.
type RandomInjector struct {
	mu   sync.Mutex
	rng  *rand.Rand // guarded by mu
	prob float64
	ops  map[Op]bool
}

// NewRandomInjector returns a RandomInjector over ops (all operations if
// none are given).
func NewRandomInjector(rng *rand.Rand, prob float64, ops ...Op) *RandomInjector {
	r := &RandomInjector{rng: rng, prob: prob, ops: map[Op]bool{}}
	for _, op := range ops {
		r.ops[op] = true
	}
	return r
}

// Inject implements Injector.
func (r *RandomInjector) Inject(op Op, _ string) Fault {
	if len(r.ops) > 0 && !r.ops[op] {
		return Fault{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rng.Float64() >= r.prob {
		return Fault{}
	}
	f := Fault{Err: syscall.EIO}
	if r.rng.IntN(2) == 0 {
		f.Err = syscall.ENOSPC
	}
	if op == OpWrite && r.rng.IntN(2) == 0 {
		f.Written = int(r.rng.Int32N(1 << 30)) // clamped to the write's length
	}
	return f
}

// Faulty is an FS that passes operations to an inner FS unless its Injector
// decides they fail.
type Faulty struct {
	inner FS
	inj   Injector
}

// NewFaulty returns an FS that asks inj about every operation before passing
// it to inner.
func NewFaulty(inner FS, inj Injector) *Faulty { return &Faulty{inner: inner, inj: inj} }

func (f *Faulty) fault(op Op, name string) error {
	if flt := f.inj.Inject(op, name); flt.Err != nil {
		return pathErr(op.String(), name, flt.Err)
	}
	return nil
}

// Create implements FS.
func (f *Faulty) Create(name string) (File, error) {
	if err := f.fault(OpCreate, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	return f.wrap(file, err, name)
}

// OpenAppend implements FS.
func (f *Faulty) OpenAppend(name string) (File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenAppend(name)
	return f.wrap(file, err, name)
}

// Open implements FS.
func (f *Faulty) Open(name string) (File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Open(name)
	return f.wrap(file, err, name)
}

// OpenDir implements FS.
func (f *Faulty) OpenDir(name string) (File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenDir(name)
	return f.wrap(file, err, name)
}

func (f *Faulty) wrap(file File, err error, name string) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, inj: f.inj, name: name}, nil
}

// Remove implements FS.
func (f *Faulty) Remove(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// RemoveAll implements FS.
func (f *Faulty) RemoveAll(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.inner.RemoveAll(name)
}

// Rename implements FS.
func (f *Faulty) Rename(oldname, newname string) error {
	if flt := f.inj.Inject(OpRename, oldname); flt.Err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: flt.Err}
	}
	return f.inner.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (f *Faulty) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.fault(OpMkdir, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir, perm)
}

// List implements FS; it is never failed.
func (f *Faulty) List(dir string) ([]string, error) { return f.inner.List(dir) }

// Stat implements FS; it is never failed.
func (f *Faulty) Stat(name string) (os.FileInfo, error) { return f.inner.Stat(name) }

// PathJoin implements FS.
func (f *Faulty) PathJoin(elem ...string) string { return f.inner.PathJoin(elem...) }

// faultyFile is a File of a Faulty FS. Close, Size and Fd are never failed.
type faultyFile struct {
	File
	inj  Injector
	name string
}

func (f *faultyFile) Write(p []byte) (int, error) {
	flt := f.inj.Inject(OpWrite, f.name)
	if flt.Err == nil {
		return f.File.Write(p)
	}
	n := 0
	if w := min(max(flt.Written, 0), len(p)); w > 0 {
		var err error
		if n, err = f.File.Write(p[:w]); err != nil {
			return n, err
		}
	}
	return n, pathErr("write", f.name, flt.Err)
}

func (f *faultyFile) Sync() error {
	if flt := f.inj.Inject(OpSync, f.name); flt.Err != nil {
		return pathErr("sync", f.name, flt.Err)
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if flt := f.inj.Inject(OpTruncate, f.name); flt.Err != nil {
		return pathErr("truncate", f.name, flt.Err)
	}
	return f.File.Truncate(size)
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if flt := f.inj.Inject(OpRead, f.name); flt.Err != nil {
		return 0, pathErr("read", f.name, flt.Err)
	}
	return f.File.ReadAt(p, off)
}
