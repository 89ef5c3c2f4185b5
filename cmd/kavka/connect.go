package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/connect/connectors"
	"github.com/kavka-io/kavka/connect/runtime"
)

// newConnectCmd is `kavka connect standalone|distributed`: a Kafka Connect
// worker with the same properties files and REST API as Kafka's
// connect-standalone.sh and connect-distributed.sh.
func newConnectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Run a Kafka Connect worker (standalone or distributed)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "standalone WORKER.properties [CONNECTOR.properties|CONNECTOR.json ...]",
		Short: "Run one worker that owns every connector; offsets in offset.storage.file.filename",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runStandalone(ctx, args[0], args[1:])
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "distributed WORKER.properties",
		Short: "Run a worker of the group group.id; configs, offsets and statuses live in topics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDistributed(ctx, args[0])
		},
	})
	return cmd
}

func readProps(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := runtime.ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func runStandalone(ctx context.Context, workerFile string, connectorFiles []string) error {
	props, err := readProps(workerFile)
	if err != nil {
		return err
	}
	wcfg, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sa, err := runtime.NewStandalone(wcfg, connectors.Plugins(), nil, log)
	if err != nil {
		return err
	}
	for _, f := range connectorFiles {
		cp, err := readProps(f)
		if err != nil {
			return err
		}
		if _, _, err := sa.PutConfig(ctx, cp["name"], cp, false); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return serveWorker(ctx, props, sa.Herder, sa.Run, log)
}

func runDistributed(ctx context.Context, workerFile string) error {
	props, err := readProps(workerFile)
	if err != nil {
		return err
	}
	wcfg, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d, err := runtime.NewDistributed(wcfg, connectors.Plugins(), log)
	if err != nil {
		return err
	}
	return serveWorker(ctx, props, d.Herder, d.Run, log)
}

// serveWorker runs the herder and the REST API until ctx ends or either
// fails.
func serveWorker(ctx context.Context, props map[string]string, h *runtime.Herder, run func(context.Context) error, log *slog.Logger) error {
	addr := runtime.ListenAddr(props)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rest listener: %w", err)
	}
	log.Info("connect: worker started", "rest", ln.Addr().String(), "worker_id", h.WorkerID())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return run(gctx) })
	g.Go(func() error { return runtime.Serve(gctx, ln, runtime.NewAPI(h)) })
	return g.Wait()
}
