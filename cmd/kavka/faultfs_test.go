package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/vfs"
)

func TestFaultFileRules(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "faults")
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "t-0"), 0o755)
	t.Setenv(faultFileEnv, rules)
	fsys := faultFSFromEnv(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	seg := filepath.Join(data, "t-0", "00000000000000000000.log")
	other := filepath.Join(data, "meta")

	write := func(name string) error {
		f, err := fsys.Create(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write([]byte("x")); err != nil {
			return err
		}
		return f.Sync()
	}
	set := func(s string) {
		t.Helper()
		if err := os.WriteFile(rules, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(faultReload + 20*time.Millisecond)
	}
	if err := write(seg); err != nil {
		t.Fatalf("no fault file: %v", err)
	}
	set("# fsync and reads of partition t-0 fail\nsync EIO /t-0/\nread,open ENOSPC \\.log$\n")
	if err := write(seg); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync of %s: %v, want EIO", seg, err)
	}
	if err := write(other); err != nil {
		t.Fatalf("sync of %s: %v", other, err)
	}
	if _, err := fsys.Open(seg); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open %s: %v, want ENOSPC", seg, err)
	}
	set("not a rule")
	if err := write(seg); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a bad file must keep the rules: %v", err)
	}
	set("")
	if err := write(seg); err != nil {
		t.Fatalf("faults lifted: %v", err)
	}
	f, err := fsys.Open(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set("all EIO .")
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: %v, want EIO", err)
	}
	os.Remove(rules)
	time.Sleep(faultReload + 20*time.Millisecond)
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatalf("fault file removed: %v", err)
	}
}

func TestFaultFileUnset(t *testing.T) {
	t.Setenv(faultFileEnv, "")
	if fsys := faultFSFromEnv(nil, slog.Default()); fsys != nil {
		t.Fatalf("unset hook wrapped the file system: %T", fsys)
	}
	if fsys := faultFSFromEnv(vfs.Default, slog.Default()); fsys != vfs.Default {
		t.Fatalf("unset hook wrapped the file system: %T", fsys)
	}
}
