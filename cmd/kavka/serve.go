package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/server"
	"github.com/kavka-io/kavka/internal/vfs"
)

// newServeCmd is `kavka serve`: with no arguments a single node (node id 1,
// broker and controller) with data in ./kavka-data on 127.0.0.1:9092.
// Precedence, lowest first: defaults, --config file, KAVKA_* environment,
// --data-dir/--listen flags, --set.
func newServeCmd() *cobra.Command {
	var (
		dataDir, listen, configFile, logLevel string
		sets                                  []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Kavka broker (single node by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(logger)

			cfg := config.Defaults()
			if configFile != "" {
				f, err := vfs.Default.Open(configFile)
				if err != nil {
					return fmt.Errorf("--config: %w", err)
				}
				props, err := config.ParseProperties(&fileReader{f: f})
				f.Close()
				if err != nil {
					return fmt.Errorf("--config %s: %w", configFile, err)
				}
				if err := cfg.SetAll(props); err != nil {
					return fmt.Errorf("--config %s: %w", configFile, err)
				}
			}
			if v := os.Getenv("KAVKA_DATA_DIR"); v != "" && !cmd.Flags().Changed("data-dir") {
				dataDir = v
			}
			if v := os.Getenv("KAVKA_LISTEN"); v != "" && !cmd.Flags().Changed("listen") {
				listen = v
			}
			if dataDir != "" {
				if err := cfg.Set("log.dirs", dataDir); err != nil {
					return fmt.Errorf("--data-dir: %w", err)
				}
			}
			if listen != "" {
				if err := cfg.Set("listeners", listen); err != nil {
					return fmt.Errorf("--listen: %w", err)
				}
			}
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--set %q: want key=value", kv)
				}
				if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
					return fmt.Errorf("--set %s: %w", k, err)
				}
			}

			fsys, err := fsFromEnv(&cfg, logger)
			if err != nil {
				return err
			}
			fsys = faultFSFromEnv(fsys, logger) // test hook, off unless KAVKA_TEST_FAULT_FILE is set
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var srv *server.Server
			for {
				srv, err = server.New(&cfg, server.Options{Logger: logger, Clock: clock.FromEnv(os.ReadFile), FS: fsys})
				if !errors.Is(err, server.ErrLogDirFailed) {
					break
				}
				// Loading the logs failed on a read or write of the log
				// directory: wait for it instead of exiting, so a transient
				// disk fault never needs an operator
				// (docs/adr/0006-log-dir-failure.md, 2026-11-27).
				if werr := server.AwaitLogDir(ctx, fsys, cfg.DataDir, err, 0, logger); werr != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			err = srv.Run(ctx)
			if errors.Is(err, server.ErrRestart) && ctx.Err() == nil {
				// A failed log directory is writable again: a new process
				// recovers the logs and rejoins (docs/adr/0006-log-dir-failure.md).
				logger.Warn("re-executing the broker to recover its log directory")
				return server.Reexec()
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "data directory (env KAVKA_DATA_DIR; default ./kavka-data)")
	f.StringVar(&listen, "listen", "", "HOST:PORT to serve the Kafka protocol on (env KAVKA_LISTEN; default 127.0.0.1:9092)")
	f.StringVar(&configFile, "config", "", "a server.properties-style config file")
	f.StringArrayVar(&sets, "set", nil, "set one config key, key=value (repeatable)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// fileReader reads a vfs.File from the start.
type fileReader struct {
	f   vfs.File
	off int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if n > 0 && err != nil {
		err = nil
	}
	return n, err
}
