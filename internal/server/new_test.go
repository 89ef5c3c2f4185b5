package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// failLog fails every open and read under one partition directory: that
// log cannot be loaded.
type failLog struct{ dir string }

func (f failLog) Inject(op vfs.Op, path string) vfs.Fault {
	if !strings.HasPrefix(path, f.dir) {
		return vfs.Fault{}
	}
	switch op {
	case vfs.OpOpen, vfs.OpRead, vfs.OpCreate:
		return vfs.Fault{Err: syscall.EIO}
	}
	return vfs.Fault{}
}

// TestNewFailsCleanlyAfterTheQuorumOpened: when New fails after it opened
// the metadata quorum (here: the partition logs cannot be loaded), it
// closes what it opened and returns the error; it used to panic on a nil
// Server in its cleanup (a broker re-executed under a read fault crashed).
func TestNewFailsCleanlyAfterTheQuorumOpened(t *testing.T) {
	cfg := config.Defaults()
	dir := t.TempDir()
	must(t, cfg.Set("node.id", "1"))
	must(t, cfg.Set("log.dirs", dir))
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	must(t, cfg.Set("controller.quorum.voters", "1@"+addr))
	must(t, cfg.Set("process.roles", "broker,controller"))
	must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://"+addr))
	part := filepath.Join(cfg.DataDir, "t-0")
	must(t, os.MkdirAll(part, 0o755))
	must(t, os.WriteFile(filepath.Join(part, "00000000000000000000.log"), []byte("not a batch"), 0o644))
	s, err := New(&cfg, Options{FS: vfs.NewFaulty(vfs.Default, failLog{dir: part}), Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Run(ctx) // stops at once and closes everything
		t.Fatal("New loaded the partition logs despite the fault")
	}
	if s != nil {
		t.Fatalf("New returned a Server with the error %v", err)
	}
}

// TestNewFailsCleanlyWhenTheControllerListenerIsTaken: openQuorum's
// cleanup after a failure (here: the CONTROLLER port is in use) closes what
// it opened; it used to panic on its nil result.
func TestNewFailsCleanlyWhenTheControllerListenerIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	cfg := config.Defaults()
	must(t, cfg.Set("node.id", "1"))
	must(t, cfg.Set("log.dirs", t.TempDir()))
	must(t, cfg.Set("controller.quorum.voters", "1@"+addr))
	must(t, cfg.Set("process.roles", "broker,controller"))
	must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://"+addr))
	if s, err := New(&cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil || s != nil {
		t.Fatalf("New = %v, %v; want no Server and an error", s, err)
	}
}
