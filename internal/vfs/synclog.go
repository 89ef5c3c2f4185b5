package vfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// SyncLog is an FS over the operating system's that journals what has been
// made durable, so that a test can simulate a power loss of a real process:
// after the process is killed (SIGKILL keeps the page cache, so everything
// written is still on disk), [DropUnsynced] rewrites its data directories to
// what a strict disk would hold, like LazyFS. It is a test hook only
// (`kavka serve` installs it when KAVKA_TEST_SYNCLOG is set); it needs Unix
// inode numbers and hard links.
//
// The durability model is MemFS's:
//   - a file's bytes are durable up to the size it had at its last
//     File.Sync; a Truncate (or a Create over an existing file) is durable
//     only after the next Sync — until then the cut bytes are kept aside so
//     that they come back;
//   - a directory entry (a file or directory created, removed or renamed) is
//     durable only after its parent directory, opened with OpenDir, is
//     synced; a file removed or renamed over while a durable entry still
//     names it is kept (hard-linked) so that it comes back.
//
// Files and directories are tracked by inode number. Everything under the
// roots when NewSyncLog runs counts as durable (the machine did not lose
// power before). The journal is written with plain writes, before Sync
// returns: it only has to survive a SIGKILL of the process, not of the
// machine. The journal directory must be on the same file system as the
// roots (hard links). What it does not model: torn writes (a prefix of the
// bytes after the last Sync reaching the disk), reordering of data within
// a file, metadata-only changes (mtime, permissions) and anything written
// around the FS (there is nothing else in Kavka).
type SyncLog struct {
	dir   string   // journal, kept inodes, undo files
	roots []string // the trees DropUnsynced rebuilds

	mu      sync.Mutex // namespace changes, directory syncs, the maps, the journal
	j       *os.File
	files   map[uint64]*fileState            // regular files by inode
	durable map[uint64]map[string]durableRef // directory inode → its durable entries
	refs    map[uint64]int                   // inode → number of durable entries naming it
	kept    map[uint64]string                // inode → hard link in dir/keep
	seq     int                              // undo file names
}

// fileState is what is durable of one file: its first min(minSize, synced)
// bytes as they are now, then undo (the bytes of [minSize, synced) that a
// truncation cut since the last Sync).
type fileState struct {
	synced  int64
	minSize int64
	undo    string // file in SyncLog.dir holding the cut durable bytes; "" if none
}

// durableRef is a durable directory entry.
type durableRef struct {
	ino uint64
	dir bool
}

const (
	syncLogJournal = "journal"
	syncLogKeep    = "keep"
	syncLogUndo    = "undo"
)

// NewSyncLog returns the journaling FS. dir holds its journal (started
// afresh) and must be on the same file system as roots, the directories a
// later DropUnsynced rebuilds (a Kavka data directory).
func NewSyncLog(dir string, roots ...string) (*SyncLog, error) {
	l := &SyncLog{dir: dir, files: map[uint64]*fileState{}, durable: map[uint64]map[string]durableRef{},
		refs: map[uint64]int{}, kept: map[uint64]string{}}
	for _, r := range roots {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("synclog root %s: %w", r, err)
		}
		l.roots = append(l.roots, a)
	}
	for _, sub := range []string{syncLogKeep, syncLogUndo} {
		p := filepath.Join(dir, sub)
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("synclog: %w", err)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("synclog: %w", err)
		}
	}
	if err := l.sameDevice(); err != nil {
		return nil, err
	}
	j, err := os.OpenFile(filepath.Join(dir, syncLogJournal), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("synclog journal: %w", err)
	}
	l.j = j
	for _, r := range l.roots {
		if err := l.journal("R", strconv.Quote(r)); err != nil {
			return nil, err
		}
		if err := l.baseline(r); err != nil {
			j.Close()
			return nil, err
		}
	}
	return l, nil
}

// sameDevice checks that the journal directory and every root (or its
// closest existing ancestor) are on one file system, for hard links.
func (l *SyncLog) sameDevice() error {
	dev := func(p string) (uint64, error) {
		for {
			st, err := os.Stat(p)
			if err == nil {
				return uint64(st.Sys().(*syscall.Stat_t).Dev), nil
			}
			parent := filepath.Dir(p)
			if !errors.Is(err, fs.ErrNotExist) || parent == p {
				return 0, fmt.Errorf("synclog: %w", err)
			}
			p = parent
		}
	}
	want, err := dev(l.dir)
	if err != nil {
		return err
	}
	for _, r := range l.roots {
		d, err := dev(r)
		if err != nil {
			return err
		}
		if d != want {
			return fmt.Errorf("synclog: %s and %s are on different file systems", l.dir, r)
		}
	}
	return nil
}

// baseline records everything under root as durable.
func (l *SyncLog) baseline(root string) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ino, err := inoOf(p)
		if err != nil {
			return err
		}
		return l.recordDir(p, ino)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("synclog baseline %s: %w", root, err)
	}
	return nil
}

func inoOf(p string) (uint64, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return 0, err
	}
	return st.Sys().(*syscall.Stat_t).Ino, nil
}

func fdIno(f File) (uint64, int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, 0, err
	}
	return st.Ino, st.Size, nil
}

// journal appends one record. l.mu must be held (or l not yet shared).
func (l *SyncLog) journal(kind string, fields ...string) error {
	if _, err := l.j.WriteString(kind + " " + strings.Join(fields, " ") + "\n"); err != nil {
		return fmt.Errorf("synclog journal: %w", err)
	}
	return nil
}

// recordDir makes the current entries of directory p (inode ino) its
// durable entries: the directory was synced, or is part of the baseline.
// Files it names that the log does not know yet count as durable at their
// current size. l.mu must be held.
func (l *SyncLog) recordDir(p string, ino uint64) error {
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	now := map[string]durableRef{}
	fields := []string{strconv.FormatUint(ino, 10)}
	for _, e := range ents {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		ref := durableRef{ino: st.Ino, dir: e.IsDir()}
		if !ref.dir && !info.Mode().IsRegular() {
			continue
		}
		if !ref.dir && l.files[ref.ino] == nil {
			if err := l.setFile(ref.ino, info.Size()); err != nil {
				return err
			}
		}
		now[e.Name()] = ref
		kind := "f"
		if ref.dir {
			kind = "d"
		}
		fields = append(fields, kind+strconv.FormatUint(ref.ino, 10)+":"+strconv.Quote(e.Name()))
	}
	if err := l.journal("D", fields...); err != nil {
		return err
	}
	for _, r := range now {
		l.refs[r.ino]++
	}
	l.dropEntries(ino)
	l.durable[ino] = now
	return nil
}

// dropEntries forgets the durable entries of directory ino; a kept file no
// durable entry names any more is let go. l.mu must be held.
func (l *SyncLog) dropEntries(ino uint64) {
	for _, r := range l.durable[ino] {
		l.refs[r.ino]--
		if l.refs[r.ino] <= 0 {
			delete(l.refs, r.ino)
			if k, ok := l.kept[r.ino]; ok {
				os.Remove(k)
				delete(l.kept, r.ino)
			}
		}
	}
	delete(l.durable, ino)
}

// setFile records a file whose first size bytes are durable (a new file: 0).
// l.mu must be held.
func (l *SyncLog) setFile(ino uint64, size int64) error {
	if old := l.files[ino]; old != nil && old.undo != "" {
		os.Remove(old.undo)
	}
	l.files[ino] = &fileState{synced: size, minSize: size}
	return l.journal("F", strconv.FormatUint(ino, 10), strconv.FormatInt(size, 10))
}

// cut records that file f (inode ino) is about to be truncated to size,
// saving the durable bytes the cut removes. l.mu must be held.
func (l *SyncLog) cut(f File, ino uint64, size int64) error {
	st := l.files[ino]
	if st == nil {
		cur, err := f.Size()
		if err != nil {
			return err
		}
		if err := l.setFile(ino, cur); err != nil {
			return err
		}
		st = l.files[ino]
	}
	if size >= st.minSize {
		return nil
	}
	undo := ""
	if size < st.synced {
		// New undo content: the durable bytes [size, min(minSize, synced))
		// still in the file, then the old undo bytes [minSize, synced).
		end := min(st.minSize, st.synced)
		b := make([]byte, end-size)
		if _, err := f.ReadAt(b, size); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("synclog save cut bytes: %w", err)
		}
		if st.undo != "" {
			old, err := os.ReadFile(st.undo)
			if err != nil {
				return fmt.Errorf("synclog: %w", err)
			}
			b = append(b, old...)
		}
		l.seq++
		undo = filepath.Join(l.dir, syncLogUndo, fmt.Sprintf("%d-%d", ino, l.seq))
		if err := os.WriteFile(undo, b, 0o644); err != nil {
			return fmt.Errorf("synclog save cut bytes: %w", err)
		}
	}
	if err := l.journal("T", strconv.FormatUint(ino, 10), strconv.FormatInt(size, 10), strconv.Quote(undo)); err != nil {
		return err
	}
	if st.undo != "" && st.undo != undo {
		os.Remove(st.undo)
	}
	st.minSize, st.undo = size, undo
	return nil
}

// keep preserves what is at p, about to be removed or replaced, if a
// durable entry still names it: a file is hard-linked into dir/keep, a
// directory is moved there (moved is then true: p is gone), so that its
// inode number is not reused and its content comes back after a drop.
// l.mu must be held.
func (l *SyncLog) keep(p string) (moved bool, err error) {
	info, err := os.Lstat(p)
	if err != nil {
		return false, nil // nothing to keep; the operation itself reports errors
	}
	ino := info.Sys().(*syscall.Stat_t).Ino
	if l.refs[ino] == 0 || l.kept[ino] != "" {
		return false, nil
	}
	k := filepath.Join(l.dir, syncLogKeep, strconv.FormatUint(ino, 10))
	switch {
	case info.IsDir():
		if err := os.Rename(p, k); err != nil {
			return false, fmt.Errorf("synclog keep %s: %w", p, err)
		}
		return true, nil // kept until the next start: it may hold kept files
	case info.Mode().IsRegular():
		if err := os.Link(p, k); err != nil {
			return false, fmt.Errorf("synclog keep %s: %w", p, err)
		}
		l.kept[ino] = k
	}
	return false, nil
}

// keepTree keeps whatever under p (a file or a directory) a durable entry
// names, before p is removed. l.mu must be held.
func (l *SyncLog) keepTree(p string) error {
	err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		moved, err := l.keep(q)
		if moved {
			return fs.SkipDir
		}
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Create creates or truncates the named file; the old content of an
// existing file stays durable until the next Sync.
func (l *SyncLog) Create(name string) (File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info, err := os.Lstat(name)
	existed := err == nil && info.Mode().IsRegular()
	if existed {
		if f, err := Default.OpenAppend(name); err == nil {
			err = l.cut(f, info.Sys().(*syscall.Stat_t).Ino, 0)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	f, err := Default.Create(name)
	if err != nil {
		return nil, err
	}
	ino, _, err := fdIno(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("synclog stat %s: %w", name, err)
	}
	if !existed || l.files[ino] == nil {
		// A new inode: its number may have been used by a file removed
		// while no durable entry named it.
		if err := l.setFile(ino, 0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &syncLogFile{File: f, l: l, ino: ino}, nil
}

// OpenAppend opens an existing file for reading and appending.
func (l *SyncLog) OpenAppend(name string) (File, error) { return l.open(name, Default.OpenAppend) }

// Open opens an existing file read-only.
func (l *SyncLog) Open(name string) (File, error) { return l.open(name, Default.Open) }

func (l *SyncLog) open(name string, open func(string) (File, error)) (File, error) {
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	ino, size, err := fdIno(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("synclog stat %s: %w", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files[ino] == nil {
		// Not created through the log: it predates it, so it is durable.
		if err := l.setFile(ino, size); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &syncLogFile{File: f, l: l, ino: ino}, nil
}

// OpenDir opens a directory so that it can be synced.
func (l *SyncLog) OpenDir(name string) (File, error) {
	f, err := Default.OpenDir(name)
	if err != nil {
		return nil, err
	}
	ino, _, err := fdIno(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("synclog stat %s: %w", name, err)
	}
	return &syncLogFile{File: f, l: l, ino: ino, dir: name}, nil
}

// Remove removes a file or an empty directory.
func (l *SyncLog) Remove(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if moved, err := l.keep(name); moved || err != nil {
		return err
	}
	return Default.Remove(name)
}

// RemoveAll removes a path and everything below it.
func (l *SyncLog) RemoveAll(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.keepTree(name); err != nil {
		return err
	}
	return Default.RemoveAll(name)
}

// Rename renames oldname to newname; a replaced file stays durable until
// newname's directory is synced.
func (l *SyncLog) Rename(oldname, newname string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.keep(newname); err != nil {
		return err
	}
	return Default.Rename(oldname, newname)
}

// MkdirAll creates a directory and any missing parents (durable once their
// parents are synced).
func (l *SyncLog) MkdirAll(dir string, perm os.FileMode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var made []string // the directories that did not exist, outermost first
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		made = append([]string{p}, made...)
	}
	if err := Default.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, p := range made {
		// A new directory has no durable entries, whatever a removed one
		// with the same inode number had.
		ino, err := inoOf(p)
		if err != nil {
			return fmt.Errorf("synclog: %w", err)
		}
		if err := l.journal("D", strconv.FormatUint(ino, 10)); err != nil {
			return err
		}
		l.dropEntries(ino)
	}
	return nil
}

// List returns the sorted names of the entries of a directory.
func (l *SyncLog) List(dir string) ([]string, error) { return Default.List(dir) }

// Stat describes the named file.
func (l *SyncLog) Stat(name string) (os.FileInfo, error) { return Default.Stat(name) }

// PathJoin joins path elements.
func (l *SyncLog) PathJoin(elem ...string) string { return Default.PathJoin(elem...) }

// Close closes the journal (tests; a process just exits).
func (l *SyncLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.j.Close()
}

// syncLogFile journals the Syncs and Truncates of one file or directory.
type syncLogFile struct {
	File
	l   *SyncLog
	ino uint64
	dir string // for a directory, its path

	mu sync.Mutex // a file's Sync against its Truncate
}

// Sync makes the file's current size durable, or a directory's current
// entries.
func (f *syncLogFile) Sync() error {
	if f.dir != "" {
		f.l.mu.Lock()
		defer f.l.mu.Unlock()
		if err := f.File.Sync(); err != nil {
			return err
		}
		return f.l.recordDir(f.dir, f.ino)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	size, err := f.File.Size()
	if err != nil {
		return err
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if st := f.l.files[f.ino]; st != nil && st.undo != "" {
		os.Remove(st.undo)
	}
	f.l.files[f.ino] = &fileState{synced: size, minSize: size}
	return f.l.journal("S", strconv.FormatUint(f.ino, 10), strconv.FormatInt(size, 10))
}

// Truncate changes the size of the file; bytes it cuts stay durable until
// the next Sync.
func (f *syncLogFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.l.mu.Lock()
	err := f.l.cut(f.File, f.ino, size)
	f.l.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// DropUnsynced rewrites the roots journaled in dir (by a NewSyncLog whose
// process is dead) to what a power loss would have left: every directory
// holds only its durable entries, every file only its durable bytes (cut
// bytes restored, removed or replaced files brought back). It returns a
// short description of what changed, for logs. The journal is removed, so
// a second call fails.
func DropUnsynced(dir string) (string, error) {
	st, err := replaySyncLog(dir)
	if err != nil {
		return "", err
	}
	have := map[uint64]string{} // inode → a path holding it now
	for _, r := range append(append([]string(nil), st.roots...), filepath.Join(dir, syncLogKeep)) {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if ino, err := inoOf(p); err == nil && have[ino] == "" {
					have[ino] = p
				}
			}
			return nil
		})
	}
	var rep dropReport
	for _, root := range st.roots {
		ino, err := inoOf(root)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("drop: %w", err)
		}
		tmp := root + ".dropping"
		if err := os.RemoveAll(tmp); err != nil {
			return "", fmt.Errorf("drop: %w", err)
		}
		if err := st.build(ino, tmp, root, have, &rep, 0); err != nil {
			return "", err
		}
		rep.countGone(root, tmp)
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("drop: %w", err)
		}
		if err := os.Rename(tmp, root); err != nil {
			return "", fmt.Errorf("drop: %w", err)
		}
	}
	for _, sub := range []string{syncLogJournal, syncLogKeep, syncLogUndo} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return "", fmt.Errorf("drop: %w", err)
		}
	}
	return rep.String(), nil
}

// replayed is the durable state read back from a journal.
type replayed struct {
	roots   []string
	files   map[uint64]*fileState
	durable map[uint64]map[string]durableRef
}

func replaySyncLog(dir string) (*replayed, error) {
	f, err := os.Open(filepath.Join(dir, syncLogJournal))
	if err != nil {
		return nil, fmt.Errorf("drop: %w", err)
	}
	defer f.Close()
	st := &replayed{files: map[uint64]*fileState{}, durable: map[uint64]map[string]durableRef{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		if err := st.apply(sc.Text()); err != nil {
			return nil, fmt.Errorf("drop: journal line %d: %w", n, err)
		}
	}
	// A record cut by the kill has no newline; Scanner returns it too, and
	// apply rejected it if it was incomplete.
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("drop: %w", err)
	}
	return st, nil
}

func (st *replayed) apply(line string) error {
	kind, rest, _ := strings.Cut(line, " ")
	fields := strings.Fields(rest)
	num := func(i int) (int64, error) {
		if i >= len(fields) {
			return 0, fmt.Errorf("short record %q", line)
		}
		return strconv.ParseInt(fields[i], 10, 64)
	}
	switch kind {
	case "R":
		r, err := strconv.Unquote(rest)
		if err != nil {
			return err
		}
		st.roots = append(st.roots, r)
	case "F", "S":
		ino, err1 := num(0)
		size, err2 := num(1)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		st.files[uint64(ino)] = &fileState{synced: size, minSize: size}
	case "T":
		ino, err1 := num(0)
		size, err2 := num(1)
		if err := errors.Join(err1, err2); err != nil || len(fields) < 3 {
			return fmt.Errorf("bad record %q", line)
		}
		undo, err := strconv.Unquote(fields[2])
		if err != nil {
			return err
		}
		fst := st.files[uint64(ino)]
		if fst == nil {
			return fmt.Errorf("truncate of unknown inode %d", ino)
		}
		fst.minSize, fst.undo = size, undo
	case "D":
		ino, err := num(0)
		if err != nil {
			return err
		}
		ents := map[string]durableRef{}
		// Names are quoted and may hold spaces: parse after the inode.
		s := strings.TrimPrefix(rest, fields[0])
		for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
			ref, name, tail, err := parseEntry(s)
			if err != nil {
				return fmt.Errorf("%w in %q", err, line)
			}
			ents[name] = ref
			s = tail
		}
		st.durable[uint64(ino)] = ents
	default:
		return fmt.Errorf("unknown record %q", line)
	}
	return nil
}

// parseEntry parses `f<ino>:"name"` or `d<ino>:"name"` at the start of s.
func parseEntry(s string) (durableRef, string, string, error) {
	ref := durableRef{dir: s[0] == 'd'}
	num, rest, ok := strings.Cut(s[1:], ":")
	if !ok || (s[0] != 'd' && s[0] != 'f') {
		return ref, "", "", errors.New("bad entry")
	}
	ino, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return ref, "", "", err
	}
	ref.ino = ino
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return ref, "", "", err
	}
	name, _ := strconv.Unquote(q)
	return ref, name, rest[len(q):], nil
}

// build writes directory ino's durable entries into dst; src is where the
// directory is now (for the report).
func (st *replayed) build(ino uint64, dst, src string, have map[uint64]string, rep *dropReport, depth int) error {
	if depth > 64 {
		return fmt.Errorf("drop: directories nested too deep at %s", dst)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	names := make([]string, 0, len(st.durable[ino]))
	for n := range st.durable[ino] {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		ref := st.durable[ino][name]
		if ref.dir {
			if err := st.build(ref.ino, filepath.Join(dst, name), filepath.Join(src, name), have, rep, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := st.buildFile(ref.ino, filepath.Join(dst, name), filepath.Join(src, name), have, rep); err != nil {
			return err
		}
	}
	return nil
}

func (st *replayed) buildFile(ino uint64, dst, src string, have map[uint64]string, rep *dropReport) error {
	from, ok := have[ino]
	fst := st.files[ino]
	if !ok || fst == nil {
		return fmt.Errorf("drop: durable entry %s: inode %d not found (written around the sync log?)", src, ino)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	keepLen := min(fst.minSize, fst.synced)
	if int64(len(b)) < keepLen {
		return fmt.Errorf("drop: %s has %d bytes, fewer than its durable %d (written around the sync log?)", from, len(b), keepLen)
	}
	out := b[:keepLen]
	if fst.undo != "" {
		u, err := os.ReadFile(fst.undo)
		if err != nil {
			return fmt.Errorf("drop: %w", err)
		}
		out = append(out, u...)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	rep.file(src, from, int64(len(b)), int64(len(out)))
	return nil
}

// dropReport counts what DropUnsynced changed.
type dropReport struct {
	files, cut, restored int // files written, of them shorter, of them brought back or regrown
	bytesCut             int64
	gone                 int // entries of the old tree not in the new one
	examples             []string
}

func (r *dropReport) file(src, from string, had, now int64) {
	r.files++
	switch {
	case from != src:
		r.restored++
		r.example(fmt.Sprintf("%s restored (%d bytes)", filepath.Base(src), now))
	case now < had:
		r.cut++
		r.bytesCut += had - now
		r.example(fmt.Sprintf("%s %d→%d", filepath.Base(src), had, now))
	case now > had:
		r.restored++
		r.example(fmt.Sprintf("%s regrown %d→%d", filepath.Base(src), had, now))
	}
}

func (r *dropReport) example(s string) {
	if len(r.examples) < 8 {
		r.examples = append(r.examples, s)
	}
}

// countGone counts the files under old that are not under new.
func (r *dropReport) countGone(old, new string) {
	filepath.WalkDir(old, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(old, p)
		if _, err := os.Lstat(filepath.Join(new, rel)); errors.Is(err, fs.ErrNotExist) {
			r.gone++
			r.example(rel + " gone")
		}
		return nil
	})
}

func (r *dropReport) String() string {
	return fmt.Sprintf("%d files kept, %d cut (%d bytes), %d restored, %d gone; %s",
		r.files, r.cut, r.bytesCut, r.restored, r.gone, strings.Join(r.examples, ", "))
}
