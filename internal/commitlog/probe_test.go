package commitlog

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// TestProbeDir: the probe passes on a healthy directory, fails while a
// write or fsync of its own file fails, and fails while a recorded failed
// read still fails even though the probe's own file reads and writes fine
// (ADR 0006, decision 7); a recorded segment that is gone needs no read.
func TestProbeDir(t *testing.T) {
	mem := vfs.NewMem()
	var failOp vfs.Op
	var failPath string // a suffix; "" fails failOp everywhere
	fsys := vfs.NewFaulty(mem, vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if op == failOp && strings.HasSuffix(path, failPath) {
			return vfs.Fault{Err: syscall.EIO}
		}
		return vfs.Fault{}
	}))
	if err := mem.MkdirAll("/data/t-0", 0o755); err != nil {
		t.Fatal(err)
	}
	seg := "/data/t-0/00000000000000000000.log"
	f, err := mem.Create(seg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	failed := []ReadError{{Path: seg, Off: 2 << 20, Err: syscall.EIO}}

	check := func(op vfs.Op, path string, reads []ReadError, wantErr bool) {
		t.Helper()
		failOp, failPath = op, path
		err := ProbeDir(fsys, "/data", reads)
		if (err != nil) != wantErr {
			t.Errorf("ProbeDir with %v of %q failing, %d failed reads = %v, want error %v", op, path, len(reads), err, wantErr)
		}
		if _, err := mem.Stat("/data/" + ProbeFileName); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ProbeDir left its file behind (%v failing): %v", op, err)
		}
	}
	check(0, "", failed, false)
	check(vfs.OpWrite, ProbeFileName, nil, true)
	check(vfs.OpSync, ProbeFileName, nil, true)
	check(vfs.OpRead, ProbeFileName, nil, true)
	check(vfs.OpRead, ".log", nil, false) // the write-only probe of old passed here
	check(vfs.OpRead, ".log", failed, true)
	if err := mem.Remove(seg); err != nil {
		t.Fatal(err)
	}
	check(vfs.OpRead, ".log", failed, false)
}

// TestFailedRead: the failed read a probe repeats, from a log that went
// offline or a load that failed.
func TestFailedRead(t *testing.T) {
	re := &ReadError{Path: "/d/t-0/0.log", Off: 7, Err: syscall.EIO}
	if got, ok := FailedRead(errors.Join(ErrLogOffline, re)); !ok || got != *re {
		t.Errorf("FailedRead(offline) = %+v, %v; want %+v", got, ok, *re)
	}
	pe := &fs.PathError{Op: "read", Path: "/d/t-0/0.log", Err: syscall.EIO}
	if got, ok := FailedRead(pe); !ok || got.Path != pe.Path || got.Off != 0 {
		t.Errorf("FailedRead(read PathError) = %+v, %v", got, ok)
	}
	if _, ok := FailedRead(&fs.PathError{Op: "open", Path: "/d", Err: syscall.EIO}); ok {
		t.Error("FailedRead(open PathError) reports a read")
	}
}
