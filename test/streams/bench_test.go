package streams_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/streams"
	"github.com/kavka-io/kavka/test/harness"
)

var benchRuns atomic.Int64

// firstTask is a slog handler that records when the first task started,
// so start-up (group join, topic creation) is left out of throughput.
type firstTask struct {
	mu sync.Mutex
	at time.Time
}

func (h *firstTask) Enabled(context.Context, slog.Level) bool { return true }
func (h *firstTask) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "task started") {
		h.mu.Lock()
		if h.at.IsZero() {
			h.at = time.Now()
		}
		h.mu.Unlock()
	}
	return nil
}
func (h *firstTask) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *firstTask) WithGroup(string) slog.Handler      { return h }

// BenchmarkStreams measures records per second of word count and of a
// windowed aggregation, at-least-once and exactly-once, against one broker
// process. Each run pre-produces the input, starts one App and times from
// its first task until the group's committed offsets reach the input's end:
//
//	go test ./test/streams -run - -bench Streams -benchtime 1x
func BenchmarkStreams(b *testing.B) {
	const n = 100_000
	br := harness.Start(b, harness.WithArgs("--set", "group.initial.rebalance.delay.ms=0"))
	cl := br.Client(kgo.ProducerLinger(5 * time.Millisecond))
	for _, name := range []string{"wordcount", "windowed"} {
		in := "bench-" + name
		createTopics(b, cl, 4, in, in+"-out")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < n; i++ {
			k := strconv.Itoa(i % 1000)
			v := "w" + k + " x" + strconv.Itoa(i%97) + " y" + strconv.Itoa(i%13)
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte(v), Timestamp: t0.Add(time.Duration(i) * time.Millisecond)},
				func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
		}
		wg.Wait()
		cancel()
		for _, g := range []struct {
			name string
			g    streams.Guarantee
		}{{"at_least_once", streams.AtLeastOnce}, {"exactly_once_v2", streams.ExactlyOnceV2}} {
			b.Run(name+"/"+g.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rate := runBench(b, br, name, in, g.g, n, strconv.Itoa(i))
					b.ReportMetric(rate, "records/s")
				}
			})
		}
	}
}

func benchTopology(name, in string) (*streams.Topology, error) {
	bld := streams.NewBuilder()
	s := streams.Stream[string, string](bld, in)
	switch name {
	case "wordcount":
		words := streams.FlatMap(s, func(_ string, v string) []streams.KeyValue[string, string] {
			var kvs []streams.KeyValue[string, string]
			for _, w := range strings.Fields(v) {
				kvs = append(kvs, streams.KeyValue[string, string]{Key: w, Value: w})
			}
			return kvs
		})
		words.GroupByKey().Count(streams.Named("counts")).ToStream().To(in + "-out")
	default:
		streams.WindowedBy(s.GroupByKey(), streams.TimeWindows{Size: 10 * time.Second, Grace: time.Second}).
			Count(streams.Named("counts")).ToStream().To(in+"-out", streams.KeySerde(streams.WindowedSerde(streams.String())))
	}
	return bld.Build()
}

func runBench(b *testing.B, br *harness.Broker, name, in string, g streams.Guarantee, n int, run string) float64 {
	b.Helper()
	topo, err := benchTopology(name, in)
	if err != nil {
		b.Fatal(err)
	}
	appID := "bench-" + name + "-" + strconv.Itoa(int(g)) + "-" + run + "-" + strconv.FormatInt(benchRuns.Add(1), 10)
	h := &firstTask{}
	app, err := streams.New(topo, streams.Brokers(br.Addr), streams.ApplicationID(appID), streams.ProcessingGuarantee(g),
		streams.StateDir(b.TempDir()), streams.Logger(slog.New(h)), streams.CommitInterval(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	}()
	adm := kadm.NewClient(br.Client())
	lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer lcancel()
	// Done when the group's committed offsets reach the end of every topic
	// it consumes: the input and, for word count, the repartition topic.
	for lctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		offs, err := adm.FetchOffsets(lctx, appID)
		if err != nil {
			continue
		}
		topics := []string{in}
		if name == "wordcount" {
			topics = append(topics, appID+"-counts-repartition")
		}
		ends, err := adm.ListEndOffsets(lctx, topics...)
		if err != nil {
			continue
		}
		caught := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := offs.Lookup(o.Topic, o.Partition)
			end := o.Offset
			if g == streams.ExactlyOnceV2 && o.Topic != in {
				end-- // a transactional topic ends with a commit marker, never consumed
			}
			if o.Offset > 0 && (!ok || c.At < end) {
				caught = false
			}
		})
		if caught && len(offs) > 0 {
			if _, ok := offs.Lookup(topics[len(topics)-1], 0); ok {
				break
			}
		}
	}
	if lctx.Err() != nil {
		b.Fatal("timed out waiting for the app to catch up")
	}
	h.mu.Lock()
	start := h.at
	h.mu.Unlock()
	return float64(n) / time.Since(start).Seconds()
}
