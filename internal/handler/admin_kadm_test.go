package handler_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/server"
)

// TestAdminWithKadm drives the admin APIs with franz-go's kadm against an
// in-process broker, as real tools do.
func TestAdminWithKadm(t *testing.T) {
	cfg := config.Defaults()
	for _, kv := range [][2]string{{"log.dirs", t.TempDir()}, {"listeners", "127.0.0.1:0"}, {"num.partitions", "2"}} {
		if err := cfg.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	r, err := server.Start(&cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.Addr().String()), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Create, with defaults and with configs; validate-only.
	res, err := adm.CreateTopics(ctx, -1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if c := res["orders"]; c.Err != nil || c.NumPartitions != 2 || c.ReplicationFactor != 1 || c.ID.String() == "" {
		t.Fatalf("create orders: %+v", c)
	}
	if res, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "dry"); err != nil || res["dry"].Err != nil {
		t.Fatalf("validate-only create: %v %+v", err, res["dry"])
	}
	// Errors.
	expect := func(what string, got, want error) {
		t.Helper()
		if !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	res, _ = adm.CreateTopics(ctx, 1, 1, nil, "orders")
	expect("create existing", res["orders"].Err, kerr.TopicAlreadyExists)
	res, _ = adm.CreateTopics(ctx, 1, 1, nil, "bad name!")
	expect("create bad name", res["bad name!"].Err, kerr.InvalidTopicException)
	res, _ = adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, "badcfg")
	expect("create bad config", res["badcfg"].Err, kerr.InvalidConfig)
	res, _ = adm.CreateTopics(ctx, 1, 5, nil, "rf5")
	expect("create rf 5", res["rf5"].Err, kerr.InvalidReplicationFactor)

	// List and describe.
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !topics.Has("orders") || topics.Has("dry") || len(topics["orders"].Partitions) != 2 {
		t.Errorf("topics: %v", topics.Names())
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	policy, err := rc.On("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range policy.Configs {
		if c.Key == "cleanup.policy" {
			found = true
			if c.MaybeValue() != "compact" || c.Source != 1 {
				t.Errorf("cleanup.policy = %q source %v", c.MaybeValue(), c.Source)
			}
		}
	}
	if !found {
		t.Error("cleanup.policy not described")
	}
	brokers, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(brokers) != 1 || brokers[0].Err != nil || len(brokers[0].Configs) == 0 {
		t.Errorf("describe broker configs: %v %+v", err, brokers)
	}

	// Alter incrementally and wholesale; validate-only; bad values.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("60000")},
	}, "orders")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, ar)
	}
	if got := r.Meta().Image().Topic("orders").Configs; got["cleanup.policy"] != "compact,delete" || got["retention.ms"] != "60000" {
		t.Errorf("configs after alter: %v", got)
	}
	ar, _ = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("1")}}, "orders")
	expect("alter bad segment.bytes", ar[0].Err, kerr.InvalidConfig)
	ar, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "orders")
	if ar[0].Err != nil {
		t.Errorf("alter state: %v", ar[0].Err)
	}
	if got := r.Meta().Image().Topic("orders").Configs; len(got) != 1 || got["retention.ms"] != "1000" {
		t.Errorf("configs after full replacement: %v", got)
	}

	// Partitions.
	cp, err := adm.CreatePartitions(ctx, 2, "orders")
	if err != nil || cp["orders"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cp)
	}
	if n := len(r.Meta().Image().Topic("orders").Partitions); n != 4 {
		t.Errorf("partitions = %d", n)
	}
	cp, _ = adm.UpdatePartitions(ctx, 1, "orders")
	expect("shrink partitions", cp["orders"].Err, kerr.InvalidPartitions)

	// Cluster.
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || meta.Cluster == "" || len(meta.Brokers) != 1 || meta.Controller != 1 {
		t.Errorf("broker metadata: %v %+v", err, meta)
	}

	// Delete, by name; unknown.
	dr, err := adm.DeleteTopics(ctx, "orders")
	if err != nil || dr["orders"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	dr, _ = adm.DeleteTopics(ctx, "orders")
	expect("delete twice", dr["orders"].Err, kerr.UnknownTopicOrPartition)
	if r.Meta().Image().Topic("orders") != nil {
		t.Error("orders still exists")
	}
}
