package streams_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/streams"
	"github.com/kavka-io/kavka/test/harness"
)

func quiet() streams.Option { return streams.Logger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

// TestJoinsRepartitionGlobalAndQueries runs, in process, a topology with
// a stream–table join, a global table join, a repartition and a
// persistent (pebble) aggregation, then reads the result both from the
// output topic and through interactive queries on the running App.
func TestJoinsRepartitionGlobalAndQueries(t *testing.T) {
	// Registered first, so it runs after every other cleanup: no
	// goroutine of the App may outlive Run.
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	br := harness.Start(t, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	cl := br.Client(kgo.ProducerLinger(0))
	createTopics(t, cl, 4, "clicks", "users", "out")
	createTopics(t, cl, 2, "pages")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var rs []*kgo.Record
	for u, r := range map[string]string{"ann": "eu", "bob": "us", "cid": "eu"} {
		rs = append(rs, &kgo.Record{Topic: "users", Key: []byte(u), Value: []byte(r)})
	}
	for p, c := range map[string]string{"/a": "news", "/b": "sport"} {
		rs = append(rs, &kgo.Record{Topic: "pages", Key: []byte(p), Value: []byte(c)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	b := streams.NewBuilder()
	clicks := streams.Stream[string, string](b, "clicks")
	users := streams.Table[string, string](b, "users", streams.Named("users"))
	pages := streams.GlobalTable[string, string](b, "pages", streams.Named("pages"))
	withRegion := streams.JoinStreamTable(clicks, users, func(_, page, region string) string { return region + "|" + page })
	withCat := streams.LeftJoinGlobal(withRegion, pages,
		func(_, v string) string { return strings.SplitN(v, "|", 2)[1] },
		func(_, v string, cat *string) string {
			c := "none"
			if cat != nil {
				c = *cat
			}
			return strings.SplitN(v, "|", 2)[0] + "/" + c
		})
	streams.GroupBy(withCat, func(_, v string) string { return v }).
		Count(streams.Named("by-region-cat"), streams.Persistent()).ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(topo.Describe())
	app, err := streams.New(topo, streams.Brokers(br.Addr), streams.ApplicationID("joins"), streams.StateDir(t.TempDir()),
		streams.CommitInterval(100*time.Millisecond), quiet())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(runCtx) }()
	defer func() {
		stop()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	}()

	// Users and pages must be loaded before clicks join them: the table
	// is read in timestamp order with the clicks, so give clicks later
	// timestamps.
	time.Sleep(500 * time.Millisecond)
	rs = rs[:0]
	want := map[string]int64{}
	for i := 0; i < 300; i++ {
		u := []string{"ann", "bob", "cid", "zed"}[i%4]
		p := []string{"/a", "/b", "/c"}[i%3]
		rs = append(rs, &kgo.Record{Topic: "clicks", Key: []byte(u), Value: []byte(p), Timestamp: time.Now().Add(time.Second)})
		if u == "zed" {
			continue // no user row: the inner join drops it
		}
		region := map[string]string{"ann": "eu", "bob": "us", "cid": "eu"}[u]
		cat := map[string]string{"/a": "news", "/b": "sport", "/c": "none"}[p]
		want[region+"/"+cat]++
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	out, err := kgo.NewClient(kgo.SeedBrokers(br.Addr), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for time.Now().Before(time.Now().Add(waitFor)) && ctx.Err() == nil && !equal(got, want) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		out.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			n, _ := streams.Int64().Deserialize(r.Value)
			got[string(r.Key)] = n
		})
		pcancel()
	}
	if !equal(got, want) {
		t.Fatalf("output counts %v, want %v", got, want)
	}
	st, err := streams.QueryKeyValueStore[string, int64](app, "by-region-cat")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if n, ok, err := st.Get(k); err != nil || !ok || n != v {
			t.Errorf("query %s = %d, %v, %v; want %d", k, n, ok, err, v)
		}
	}
	gs, err := streams.QueryKeyValueStore[string, string](app, "pages")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, err := gs.Get("/b"); c != "sport" || !ok || err != nil {
		t.Errorf("global store /b = %q, %v, %v", c, ok, err)
	}
}

func equal(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestCopartitioningCheck: joining topics with different partition
// counts is refused at start.
func TestCopartitioningCheck(t *testing.T) {
	br := harness.Start(t)
	cl := br.Client()
	createTopics(t, cl, 2, "left")
	createTopics(t, cl, 3, "right")
	b := streams.NewBuilder()
	streams.JoinStreams(streams.Stream[string, string](b, "left"), streams.Stream[string, string](b, "right"),
		func(_, a, b string) string { return a + b }, streams.JoinTimeDifference(time.Second, 0)).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Brokers(br.Addr), streams.ApplicationID("copart"), quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err = app.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "co-partitioned") {
		t.Errorf("Run = %v, want a co-partitioning error", err)
	}
}
