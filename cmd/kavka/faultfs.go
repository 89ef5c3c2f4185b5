package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kavka-io/kavka/internal/vfs"
)

// faultFileEnv names the test hook of test/chaos's disk-fault rows
// (F13b, F13c): the path of a fault file. When it is set, the broker's file
// system is wrapped in vfs.Faulty, and every operation is checked against
// the rules in that file, re-read at most every 100 ms, so a test can turn
// faults on and off in a running process. Never set it in production.
//
// The file holds one rule a line; blank lines and lines starting with '#'
// are ignored:
//
//	<ops> <errno> <path regexp>
//
// ops is a comma-separated list of write, sync, read, create, rename,
// remove, truncate, open, mkdir, or "all"; errno is EIO, ENOSPC, EFBIG,
// EROFS or EDQUOT; the regexp (RE2) is matched against the whole path of
// the file (unanchored). The first rule that matches an operation fails
// it. A missing or empty file injects nothing; a file with a bad line keeps
// the rules last read (the error is logged once per change).
const faultFileEnv = "KAVKA_TEST_FAULT_FILE"

// faultReload is how often the fault file is re-read at most.
const faultReload = 100 * time.Millisecond

// faultFSFromEnv wraps fsys (nil: the operating system's) in the fault
// layer if KAVKA_TEST_FAULT_FILE is set; otherwise it returns fsys as is,
// so the hook costs nothing when unset.
func faultFSFromEnv(fsys vfs.FS, logger *slog.Logger) vfs.FS {
	path := os.Getenv(faultFileEnv)
	if path == "" {
		return fsys
	}
	if fsys == nil {
		fsys = vfs.Default
	}
	logger.Warn("test hook: file-system faults are read from a file; never set it in production", "env", faultFileEnv, "file", path)
	return vfs.NewFaulty(fsys, newFileInjector(path, logger))
}

// faultRule fails the operations in ops on paths matching re with err.
type faultRule struct {
	ops map[vfs.Op]bool
	err syscall.Errno
	re  *regexp.Regexp
}

// fileInjector is a vfs.Injector that reads its rules from a file.
type fileInjector struct {
	path   string
	logger *slog.Logger

	rules  atomic.Pointer[[]faultRule]
	next   atomic.Int64 // unix ns of the next re-read
	mu     sync.Mutex   // serializes re-reads
	last   []byte       // guarded by mu; the content last parsed
	active bool         // guarded by mu; the last content held a rule
}

func newFileInjector(path string, logger *slog.Logger) *fileInjector {
	in := &fileInjector{path: path, logger: logger}
	in.rules.Store(&[]faultRule{})
	in.reload(time.Now().UnixNano())
	return in
}

// Inject implements vfs.Injector.
func (in *fileInjector) Inject(op vfs.Op, path string) vfs.Fault {
	if now := time.Now().UnixNano(); now >= in.next.Load() {
		in.reload(now)
	}
	for _, r := range *in.rules.Load() {
		if r.ops[op] && r.re.MatchString(path) {
			return vfs.Fault{Err: r.err}
		}
	}
	return vfs.Fault{}
}

// reload re-reads the file unless another goroutine is doing it.
func (in *fileInjector) reload(now int64) {
	if !in.mu.TryLock() {
		return
	}
	defer in.mu.Unlock()
	if now < in.next.Load() {
		return
	}
	in.next.Store(now + int64(faultReload))
	b, err := os.ReadFile(in.path) // not through the faulty FS
	if err != nil && !os.IsNotExist(err) {
		return // keep the rules
	}
	if bytes.Equal(b, in.last) && in.last != nil {
		return
	}
	in.last = append([]byte{}, b...)
	rules, err := parseFaultRules(b)
	if err != nil {
		in.logger.Error("test hook: bad fault file; keeping the last rules", "file", in.path, "err", err)
		return
	}
	in.rules.Store(&rules)
	if len(rules) > 0 || in.active {
		in.logger.Warn("test hook: file-system faults changed", "file", in.path, "rules", strings.TrimSpace(string(b)))
	}
	in.active = len(rules) > 0
}

var faultOps = map[string]vfs.Op{
	"write": vfs.OpWrite, "sync": vfs.OpSync, "read": vfs.OpRead, "create": vfs.OpCreate,
	"rename": vfs.OpRename, "remove": vfs.OpRemove, "truncate": vfs.OpTruncate,
	"open": vfs.OpOpen, "mkdir": vfs.OpMkdir,
}

var faultErrnos = map[string]syscall.Errno{
	"EIO": syscall.EIO, "ENOSPC": syscall.ENOSPC, "EFBIG": syscall.EFBIG,
	"EROFS": syscall.EROFS, "EDQUOT": syscall.EDQUOT,
}

// parseFaultRules parses a fault file (see faultFileEnv).
func parseFaultRules(b []byte) ([]faultRule, error) {
	var rules []faultRule
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want <ops> <errno> <path regexp>, got %q", n, line)
		}
		r := faultRule{ops: map[vfs.Op]bool{}}
		for _, name := range strings.Split(f[0], ",") {
			if name == "all" {
				for _, op := range faultOps {
					r.ops[op] = true
				}
				continue
			}
			op, ok := faultOps[name]
			if !ok {
				return nil, fmt.Errorf("line %d: unknown operation %q", n, name)
			}
			r.ops[op] = true
		}
		errno, ok := faultErrnos[f[1]]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown errno %q", n, f[1])
		}
		r.err = errno
		re, err := regexp.Compile(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		r.re = re
		rules = append(rules, r)
	}
	return rules, sc.Err()
}
