package vfs

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS that remembers what is durable, so that a test can
// simulate a power loss with CrashClone. It is safe for concurrent use.
//
// Durability model (strict, like pebble's crashable MemFS):
//   - a file's bytes are durable up to the size they had at its last
//     File.Sync; a Truncate is durable only after the next Sync;
//   - a directory entry (a file or directory created, removed or renamed) is
//     durable only after its parent directory, opened with OpenDir, is synced.
//     This includes directories made by MkdirAll. The root always exists.
//
// Files have no operating-system descriptor: Fd returns NoFd.
type MemFS struct {
	mu   sync.RWMutex
	root *inode // guarded by mu, as is everything reachable from it
	now  func() time.Time
}

// inode is a file or a directory. All fields are guarded by MemFS.mu.
type inode struct {
	dir   bool
	mtime time.Time

	// Files.
	data []byte
	// syncedLen is the size at the last Sync. While durable is nil,
	// data[:syncedLen] is exactly the durable content (writes only append, so
	// those bytes cannot change unless a Truncate cuts into them).
	syncedLen int
	// durable is a copy of the durable content, made when a Truncate cut
	// below syncedLen since the last Sync; nil otherwise.
	durable []byte
	// minSize is the smallest size the file had since the last Sync:
	// data[:minSize] is unchanged since then.
	minSize int

	// Directories.
	children map[string]*inode
	synced   map[string]*inode // entries as of the last directory sync
}

func newDir() *inode {
	return &inode{dir: true, children: map[string]*inode{}, synced: map[string]*inode{}}
}

// NewMem returns an empty in-memory file system holding only the root
// directory "/". Relative paths are resolved against the root.
func NewMem() *MemFS {
	return &MemFS{root: newDir(), now: func() time.Time { return time.Time{} }}
}

// SetClock makes the file system stamp modification times (as reported by
// Stat) with c.Now(). Without it every ModTime is the zero time. The clock
// is typically a *clock.Fake.
func (m *MemFS) SetClock(c interface{ Now() time.Time }) {
	m.mu.Lock()
	m.now = c.Now
	m.mu.Unlock()
}

// CrashClone returns a new MemFS holding the state this one would have after
// a power loss now: only synced file bytes and synced directory entries. The
// clone is independent of m and everything in it is durable.
func (m *MemFS) CrashClone() *MemFS { return m.crashClone(nil) }

// CrashCloneTorn is like CrashClone but, for every file, keeps a random
// prefix (chosen with rng) of the bytes written after its last Sync, as a
// disk may have written part of them before the power went out. A file
// truncated since its last Sync comes back either as it was at the last Sync
// or truncated with a random prefix of the later writes. Directory entries
// follow the strict rule of CrashClone, so a rename is never half-done.
func (m *MemFS) CrashCloneTorn(rng *rand.Rand) *MemFS { return m.crashClone(rng) }

func (m *MemFS) crashClone(rng *rand.Rand) *MemFS {
	m.mu.RLock()
	defer m.mu.RUnlock()
	seen := map[*inode]*inode{}
	var clone func(n *inode) *inode
	clone = func(n *inode) *inode {
		if c, ok := seen[n]; ok {
			return c
		}
		c := &inode{dir: n.dir, mtime: n.mtime}
		seen[n] = c
		if n.dir {
			c.children = make(map[string]*inode, len(n.synced))
			c.synced = make(map[string]*inode, len(n.synced))
			names := make([]string, 0, len(n.synced))
			for name := range n.synced {
				names = append(names, name)
			}
			sort.Strings(names) // deterministic use of rng
			for _, name := range names {
				cc := clone(n.synced[name])
				c.children[name] = cc
				c.synced[name] = cc
			}
			return c
		}
		var content []byte
		switch {
		case rng == nil && n.durable != nil:
			content = n.durable
		case rng == nil:
			content = n.data[:n.syncedLen]
		case n.durable != nil && rng.IntN(2) == 0:
			content = n.durable
		case n.durable != nil:
			content = n.data[:n.minSize+rng.IntN(len(n.data)-n.minSize+1)]
		default:
			content = n.data[:n.syncedLen+rng.IntN(len(n.data)-n.syncedLen+1)]
		}
		c.data = append([]byte(nil), content...)
		c.syncedLen, c.minSize = len(c.data), len(c.data)
		return c
	}
	return &MemFS{root: clone(m.root), now: m.now}
}

// split cleans name and returns its elements below the root.
func split(name string) []string {
	p := filepath.Clean(string(filepath.Separator) + name)
	p = strings.TrimPrefix(p, string(filepath.Separator))
	if p == "" {
		return nil
	}
	return strings.Split(p, string(filepath.Separator))
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// lookup returns the inode at elems.
// m.mu must be held.
func (m *MemFS) lookup(elems []string) (*inode, error) {
	n := m.root
	for _, e := range elems {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[e]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = c
	}
	return n, nil
}

// parent returns the directory holding the last element of name, and that
// element. name must not be the root.
// m.mu must be held.
func (m *MemFS) parent(name string) (*inode, string, error) {
	elems := split(name)
	if len(elems) == 0 {
		return nil, "", syscall.EINVAL
	}
	d, err := m.lookup(elems[:len(elems)-1])
	if err != nil {
		return nil, "", err
	}
	if !d.dir {
		return nil, "", syscall.ENOTDIR
	}
	return d, elems[len(elems)-1], nil
}

// Create creates or truncates the named file.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	n, ok := d.children[base]
	switch {
	case ok && n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	case ok:
		n.truncateLocked(0)
	default:
		n = &inode{}
		d.children[base] = n
		d.mtime = m.now()
	}
	n.mtime = m.now()
	return &memFile{fs: m, n: n, name: name, write: true}, nil
}

// OpenAppend opens an existing file for reading and appending.
func (m *MemFS) OpenAppend(name string) (File, error) {
	return m.open("open", name, false, true)
}

// Open opens an existing file read-only.
func (m *MemFS) Open(name string) (File, error) {
	return m.open("open", name, false, false)
}

// OpenDir opens a directory so that it can be synced.
func (m *MemFS) OpenDir(name string) (File, error) {
	return m.open("open", name, true, false)
}

func (m *MemFS) open(op, name string, dir, write bool) (File, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup(split(name))
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	if dir && !n.dir {
		return nil, pathErr(op, name, syscall.ENOTDIR)
	}
	if !dir && n.dir {
		return nil, pathErr(op, name, syscall.EISDIR)
	}
	return &memFile{fs: m, n: n, name: name, write: write}, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	n, ok := d.children[base]
	if !ok {
		return pathErr("remove", name, syscall.ENOENT)
	}
	if n.dir && len(n.children) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(d.children, base)
	d.mtime = m.now()
	return nil
}

// RemoveAll removes name and everything below it. A missing name is not an
// error.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(name)
	if err == syscall.EINVAL {
		return pathErr("removeall", name, err) // the root
	}
	if err != nil {
		return nil // a missing parent means a missing name
	}
	if _, ok := d.children[base]; ok {
		delete(d.children, base)
		d.mtime = m.now()
	}
	return nil
}

// Rename atomically renames oldname to newname, replacing a file at newname
// (or an empty directory, if oldname is a directory).
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, obase, err := m.parent(oldname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	n, ok := od.children[obase]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOENT}
	}
	nd, nbase, err := m.parent(newname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if n.dir {
		// A directory must not move below itself.
		oe, ne := split(oldname), split(newname)
		if len(ne) > len(oe) && equalElems(ne[:len(oe)], oe) {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EINVAL}
		}
	}
	if old, ok := nd.children[nbase]; ok && old != n {
		switch {
		case old.dir && !n.dir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EISDIR}
		case !old.dir && n.dir:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTDIR}
		case old.dir && len(old.children) > 0:
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOTEMPTY}
		}
	}
	delete(od.children, obase)
	nd.children[nbase] = n
	od.mtime, nd.mtime = m.now(), m.now()
	return nil
}

func equalElems(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MkdirAll creates a directory and any missing parents. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, e := range split(dir) {
		c, ok := n.children[e]
		if !ok {
			c = newDir()
			c.mtime = m.now()
			n.children[e] = c
			n.mtime = m.now()
		} else if !c.dir {
			return pathErr("mkdir", dir, syscall.ENOTDIR)
		}
		n = c
	}
	return nil
}

// List returns the sorted names of the entries of dir.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup(split(dir))
	if err != nil {
		return nil, pathErr("open", dir, err)
	}
	if !n.dir {
		return nil, pathErr("readdirent", dir, syscall.ENOTDIR)
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// Stat describes the named file or directory.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	elems := split(name)
	n, err := m.lookup(elems)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	base := string(filepath.Separator)
	if len(elems) > 0 {
		base = elems[len(elems)-1]
	}
	return n.infoLocked(base), nil
}

// PathJoin joins path elements with filepath.Join.
func (m *MemFS) PathJoin(elem ...string) string { return filepath.Join(elem...) }

// infoLocked returns a snapshot of n's metadata. MemFS.mu must be held.
func (n *inode) infoLocked(name string) os.FileInfo {
	fi := memInfo{name: name, size: int64(len(n.data)), mtime: n.mtime, mode: 0o644}
	if n.dir {
		fi.size, fi.mode = 0, fs.ModeDir|0o755
	}
	return fi
}

// truncateLocked sets the size of a file, keeping a copy of its durable
// content if the cut reaches into it. MemFS.mu must be held (for writing).
func (n *inode) truncateLocked(size int) {
	if size < n.syncedLen && n.durable == nil {
		n.durable = append([]byte(nil), n.data[:n.syncedLen]...)
	}
	if size <= len(n.data) {
		// Zero the cut bytes so that a later extension reads zeros.
		clear(n.data[size:])
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-len(n.data))...)
	}
	n.minSize = min(n.minSize, size)
}

type memInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (fi memInfo) Name() string       { return fi.name }
func (fi memInfo) Size() int64        { return fi.size }
func (fi memInfo) Mode() fs.FileMode  { return fi.mode }
func (fi memInfo) ModTime() time.Time { return fi.mtime }
func (fi memInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi memInfo) Sys() any           { return nil }

// memFile is an open MemFS file or directory.
type memFile struct {
	fs    *MemFS
	n     *inode
	name  string
	write bool

	closed bool // guarded by fs.mu
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch {
	case f.closed:
		return 0, pathErr("write", f.name, os.ErrClosed)
	case f.n.dir:
		return 0, pathErr("write", f.name, syscall.EISDIR)
	case !f.write:
		return 0, pathErr("write", f.name, syscall.EBADF)
	}
	f.n.data = append(f.n.data, p...)
	f.n.mtime = f.fs.now()
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	switch {
	case f.closed:
		return 0, pathErr("read", f.name, os.ErrClosed)
	case f.n.dir:
		return 0, pathErr("read", f.name, syscall.EISDIR)
	case off < 0:
		return 0, pathErr("readat", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

// Sync makes the file's content durable, or, for a directory, its entries.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("sync", f.name, os.ErrClosed)
	}
	n := f.n
	if n.dir {
		clear(n.synced)
		for name, c := range n.children {
			n.synced[name] = c
		}
		return nil
	}
	n.syncedLen, n.minSize, n.durable = len(n.data), len(n.data), nil
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch {
	case f.closed:
		return pathErr("truncate", f.name, os.ErrClosed)
	case f.n.dir:
		return pathErr("truncate", f.name, syscall.EISDIR)
	case !f.write:
		return pathErr("truncate", f.name, syscall.EBADF)
	case size < 0 || size > 1<<40:
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	f.n.truncateLocked(int(size))
	f.n.mtime = f.fs.now()
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if f.closed {
		return 0, pathErr("stat", f.name, os.ErrClosed)
	}
	if f.n.dir {
		return 0, nil
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Fd() uintptr { return NoFd }
