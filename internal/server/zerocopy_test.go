package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// startBrokerOpts runs a broker with opts; it returns the broker, its
// address and its data directory.
func startBrokerOpts(t testing.TB, opts Options) (*Running, string, string) {
	t.Helper()
	cfg := config.Defaults()
	dir := t.TempDir()
	must(t, cfg.Set("log.dirs", dir))
	must(t, cfg.Set("listeners", "127.0.0.1:0"))
	opts.Logger = slog.New(slog.DiscardHandler)
	r, err := Start(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r, r.Addr().String(), dir
}

// readSegment returns the bytes of a partition's first segment file.
func readSegment(t testing.TB, dir, topic string) []byte {
	t.Helper()
	fs := vfs.Default
	f, err := fs.Open(fs.PathJoin(dir, topic+"-0", "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFetchZeroCopyByteExact: with every region sent by sendfile and with
// none, franz-go consumes what it produced, and a raw Fetch at old, flexible
// and topic-id versions returns the segment file's bytes exactly.
func TestFetchZeroCopyByteExact(t *testing.T) {
	f := func(name string, sendfileMin int64) {
		t.Helper()
		_, addr, dir := startBrokerOpts(t, Options{SendfileMinBytes: sendfileMin})
		const topic, n = "zc", 3000
		createTopic(t, addr, topic, 1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.Lz4Compression()} {
			p := client(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec))
			var wg sync.WaitGroup
			for j := range n / 2 {
				wg.Add(1)
				v := fmt.Appendf(bytes.Repeat([]byte{'x'}, 1000), "%d", i*n/2+j)
				p.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
					defer wg.Done()
					if err != nil {
						t.Errorf("%s: produce: %v", name, err)
					}
				})
			}
			wg.Wait()
		}
		got := consume(t, addr, topic, n)
		for i, r := range got[:n] {
			want := fmt.Appendf(bytes.Repeat([]byte{'x'}, 1000), "%d", i)
			if r.Offset != int64(i) || !bytes.Equal(r.Value, want) {
				t.Fatalf("%s: record %d: offset %d, value ...%q", name, i, r.Offset, r.Value[990:])
			}
		}

		file := readSegment(t, dir, topic)
		details, err := kadm.NewClient(client(t, addr)).ListTopics(ctx, topic)
		must(t, err)
		id := details[topic].ID
		for _, v := range []int16{4, 11, 12, 13, 16} {
			versions := kversion.Stable()
			versions.SetMaxKeyVersion(1, v)
			c := client(t, addr, kgo.MaxVersions(versions))
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 50<<20, -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 50 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			kr, err := c.Request(ctx, req)
			must(t, err)
			resp := kr.(*kmsg.FetchResponse)
			if resp.Version != v {
				t.Fatalf("%s: fetch answered at v%d, want v%d", name, resp.Version, v)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("%s v%d: response %+v", name, v, resp)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || !bytes.Equal(p.RecordBatches, file) {
				t.Fatalf("%s v%d: error %d, %d record bytes, want the segment's %d bytes exactly",
					name, v, p.ErrorCode, len(p.RecordBatches), len(file))
			}
		}
	}
	f("sendfile", 1)
	f("copy", -1)
}

// TestFetchZeroCopyConcurrentConsumers: consumers read one segment at the
// same time, all through sendfile.
func TestFetchZeroCopyConcurrentConsumers(t *testing.T) {
	_, addr, _ := startBrokerOpts(t, Options{SendfileMinBytes: 1})
	const topic, n = "zcc", 2000
	createTopic(t, addr, topic, 1, nil)
	p := client(t, addr, kgo.DefaultProduceTopic(topic))
	var records []*kgo.Record
	for i := range n {
		records = append(records, &kgo.Record{Value: fmt.Appendf(nil, "%0500d", i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, p.ProduceSync(ctx, records...).FirstErr())
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := consume(t, addr, topic, n, kgo.FetchMaxPartitionBytes(16<<10))
			for i, r := range got[:n] {
				if want := fmt.Sprintf("%0500d", i); string(r.Value) != want {
					t.Errorf("record %d: %.20q…, want %.20q…", i, r.Value, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
