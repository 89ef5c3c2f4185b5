package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startBroker runs a broker on 127.0.0.1:0 in a temp dir until the test ends.
func startBroker(t testing.TB, sets ...string) (*Running, string) {
	t.Helper()
	return startBrokerWith(t, slog.New(slog.DiscardHandler), sets...)
}

func startBrokerWith(t testing.TB, logger *slog.Logger, sets ...string) (*Running, string) {
	t.Helper()
	cfg := config.Defaults()
	dir := t.TempDir()
	must(t, cfg.Set("log.dirs", dir))
	must(t, cfg.Set("listeners", "127.0.0.1:0"))
	for i := 0; i+1 < len(sets); i += 2 {
		must(t, cfg.Set(sets[i], sets[i+1]))
	}
	r, err := Start(&cfg, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r, r.Addr().String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(10 * time.Second)}, opts...)
	c, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func createTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(client(t, addr))
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consume reads n records from the beginning of topic.
func consume(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	c := client(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n { // bounded by ctx
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeCodecs(t *testing.T) {
	_, addr := startBroker(t)
	f := func(codec kgo.CompressionCodec, name string) {
		t.Helper()
		topic := "codec-" + name
		createTopic(t, addr, topic, 3, nil)
		p := client(t, addr, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
		const n = 300
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := range n {
			r := &kgo.Record{
				Key:     []byte(fmt.Sprintf("key-%d", i%10)),
				Value:   []byte(fmt.Sprintf("value-%d", i)),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
			}
			p.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("%s: produce: %v", name, err)
				}
			})
		}
		must(t, p.Flush(ctx))
		recs := consume(t, addr, topic, n)
		if len(recs) != n {
			t.Fatalf("%s: got %d records, want %d", name, len(recs), n)
		}
		keyPart := map[string]int32{}
		next := map[int32]int64{}
		for _, r := range recs {
			if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
				t.Errorf("%s: key %s in partitions %d and %d", name, r.Key, p, r.Partition)
			}
			keyPart[string(r.Key)] = r.Partition
			if r.Offset != next[r.Partition] {
				t.Errorf("%s: partition %d offset %d, want %d", name, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition] = r.Offset + 1
			if len(r.Headers) != 1 || r.Headers[0].Key != "h" {
				t.Errorf("%s: headers %v", name, r.Headers)
			}
		}
	}
	f(kgo.NoCompression(), "none")
	f(kgo.GzipCompression(), "gzip")
	f(kgo.SnappyCompression(), "snappy")
	f(kgo.Lz4Compression(), "lz4")
	f(kgo.ZstdCompression(), "zstd")
}

func TestTimestamps(t *testing.T) {
	_, addr := startBroker(t)
	la := "LogAppendTime"
	createTopic(t, addr, "create-time", 1, nil)
	createTopic(t, addr, "append-time", 1, map[string]*string{"message.timestamp.type": &la})
	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	p := client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, topic := range []string{"create-time", "append-time"} {
		res := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: ts})
		must(t, res.FirstErr())
	}
	if r := consume(t, addr, "create-time", 1)[0]; !r.Timestamp.Equal(ts) || r.Attrs.TimestampType() != 0 {
		t.Errorf("CreateTime: got %v type %d, want %v type 0", r.Timestamp, r.Attrs.TimestampType(), ts)
	}
	if r := consume(t, addr, "append-time", 1)[0]; r.Timestamp.Before(ts.Add(30*time.Minute)) || r.Attrs.TimestampType() != 1 {
		t.Errorf("LogAppendTime: got %v type %d, want about now, type 1", r.Timestamp, r.Attrs.TimestampType())
	}
}

func TestLongPollFetch(t *testing.T) {
	_, addr := startBroker(t)
	createTopic(t, addr, "lp", 1, nil)
	c := client(t, addr, kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan time.Time, 1)
	go func() {
		fs := c.PollFetches(ctx)
		if len(fs.Records()) > 0 {
			got <- time.Now()
		}
		close(got)
	}()
	time.Sleep(500 * time.Millisecond) // the fetch is now parked in the purgatory
	sent := time.Now()
	p := client(t, addr)
	must(t, p.ProduceSync(ctx, &kgo.Record{Topic: "lp", Value: []byte("wake")}).FirstErr())
	at, ok := <-got
	if !ok {
		t.Fatal("no records")
	}
	if d := at.Sub(sent); d > 2*time.Second {
		t.Errorf("fetch woke %v after the produce; want well under MaxWait 5s", d)
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	_, addr := startBroker(t)
	createTopic(t, addr, "lo", 1, nil)
	p := client(t, addr, kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 10 {
		ts := base.Add(time.Duration(i) * time.Second)
		if i == 5 {
			ts = base.Add(time.Minute) // the max timestamp is in the middle
		}
		must(t, p.ProduceSync(ctx, &kgo.Record{Topic: "lo", Value: []byte{byte(i)}, Timestamp: ts}).FirstErr())
	}
	adm := kadm.NewClient(client(t, addr))
	f := func(name string, list func() (kadm.ListedOffsets, error), wantOffset int64) {
		t.Helper()
		lo, err := list()
		must(t, err)
		o, ok := lo.Lookup("lo", 0)
		if !ok || o.Err != nil || o.Offset != wantOffset {
			t.Errorf("%s: got %+v, want offset %d", name, o, wantOffset)
		}
	}
	f("earliest", func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, "lo") }, 0)
	f("latest", func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, "lo") }, 10)
	f("max timestamp", func() (kadm.ListedOffsets, error) { return adm.ListMaxTimestampOffsets(ctx, "lo") }, 5)
	f("by timestamp", func() (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, base.Add(2500*time.Millisecond).UnixMilli(), "lo")
	}, 3)
	f("after the last", func() (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "lo")
	}, 10) // kadm maps "none" (-1) to the end offset

	os := kadm.Offsets{}
	os.AddOffset("lo", 0, 4, -1)
	dr, err := adm.DeleteRecords(ctx, os)
	must(t, err)
	if d, _ := dr.Lookup("lo", 0); d.Err != nil || d.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", d)
	}
	f("earliest after delete", func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, "lo") }, 4)
	os = kadm.Offsets{}
	os.AddOffset("lo", 0, 11, -1)
	dr, err = adm.DeleteRecords(ctx, os)
	must(t, err)
	if d, _ := dr.Lookup("lo", 0); !errors.Is(d.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete beyond HW: %+v, want OFFSET_OUT_OF_RANGE", d)
	}
	recs := consume(t, addr, "lo", 6)
	if recs[0].Offset != 4 {
		t.Errorf("first record after delete at offset %d, want 4", recs[0].Offset)
	}
}

func TestUnknownTopicProduce(t *testing.T) {
	_, addr := startBroker(t, "auto.create.topics.enable", "false")
	p := client(t, addr, kgo.RecordDeliveryTimeout(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.ProduceSync(ctx, &kgo.Record{Topic: "nope", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produce to unknown topic succeeded")
	}
}
