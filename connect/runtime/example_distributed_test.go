package runtime_test

import (
	"context"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/connect/connectors"
	"github.com/kavka-io/kavka/connect/runtime"
)

// A distributed worker: what `kavka connect distributed WORKER.properties`
// runs. Start several with the same group.id; they share the connectors
// created through any worker's REST API. (Not run: it needs a cluster.)
func ExampleNewDistributed() {
	props := map[string]string{
		"bootstrap.servers":    "localhost:9092",
		"group.id":             "connect-cluster",
		"config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets",
		"status.storage.topic":              "connect-status",
		"config.storage.replication.factor": "1", "offset.storage.replication.factor": "1",
		"status.storage.replication.factor": "1",
		"listeners":                         "http://127.0.0.1:8083",
	}
	wcfg, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		panic(err)
	}
	d, err := runtime.NewDistributed(wcfg, connectors.Plugins(), slog.Default())
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", runtime.ListenAddr(props))
	if err != nil {
		d.Close()
		panic(err)
	}
	ctx := context.Background() // cancel it to stop: tasks commit, the worker leaves the group
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Run(ctx) })
	g.Go(func() error { return runtime.Serve(ctx, ln, runtime.NewAPI(d.Herder)) })
	_ = g.Wait()
}
