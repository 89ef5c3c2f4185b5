package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// syncLogEnv names the test hook of test/chaos's power-loss rows: a
// directory (on the data directory's file system) where the broker
// journals what it fsyncs (vfs.SyncLog), so that a test can drop the
// un-fsynced data after a SIGKILL (vfs.DropUnsynced). Never set it in
// production: every directory sync lists the directory.
const syncLogEnv = "KAVKA_TEST_SYNCLOG"

// fsFromEnv returns the broker's file system: nil (the operating system's,
// untouched) unless KAVKA_TEST_SYNCLOG is set.
func fsFromEnv(cfg *config.Broker, logger *slog.Logger) (vfs.FS, error) {
	dir := os.Getenv(syncLogEnv)
	if dir == "" {
		return nil, nil
	}
	fsys, err := vfs.NewSyncLog(dir, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", syncLogEnv, err)
	}
	logger.Warn("test hook: every fsync is journaled for simulated power loss; never set it in production", "env", syncLogEnv, "dir", dir)
	return fsys, nil
}
