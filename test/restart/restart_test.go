// Package restart checks that a broker process keeps every acknowledged
// record across a stop and a start on the same data directory: a graceful
// SIGTERM and a SIGKILL, through the real binary and franz-go.
package restart

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

var seedFlag = flag.Uint64("restart.seed", 0, "seed for the generated records (0: from the clock)")

func TestMain(m *testing.M) { harness.Main(m) }

const (
	topic      = "restart"
	partitions = 3
	opTimeout  = 30 * time.Second
)

func TestRestartAfterSIGTERM(t *testing.T) {
	testRestart(t, func(b *harness.Broker) {
		if err := b.Stop(); err != nil {
			t.Errorf("graceful stop: exit = %v, want status 0", err)
		}
	})
}

func TestRestartAfterSIGKILL(t *testing.T) {
	testRestart(t, func(b *harness.Broker) { b.Kill() })
}

// testRestart produces, stops the broker with stop, starts it again on the
// same data dir, and checks every acknowledged record comes back byte-exact
// and in order; twice, so the second start recovers a log that was written
// after a restart.
func testRestart(t *testing.T, stop func(*harness.Broker)) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -restart.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	b := harness.Start(t)
	createTopic(t, b)
	var acked []*kgo.Record
	for round := range 2 {
		acked = append(acked, produce(t, b, rng, round, 1500)...)
		stop(b)
		b.Restart()
		checkTopic(t, b)
		checkAll(t, b, acked)
		if t.Failed() {
			return
		}
	}
}

func createTopic(t *testing.T, b *harness.Broker) {
	t.Helper()
	adm := kadm.NewClient(b.Client())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// checkTopic fails the test at once if the topic or one of its partitions
// is missing from the metadata after a restart.
func checkTopic(t *testing.T, b *harness.Broker) {
	t.Helper()
	adm := kadm.NewClient(b.Client())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	topics, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("metadata after restart: %v", err)
	}
	td := topics[topic]
	if td.Err != nil || len(td.Partitions) != partitions {
		t.Fatalf("after restart, topic %s: err %v, %d partitions, want %d", topic, td.Err, len(td.Partitions), partitions)
	}
}

// produce sends n records with random keys, values, headers and timestamps
// with acks=all and returns them as acknowledged (partition and offset set).
func produce(t *testing.T, b *harness.Broker, rng *rand.Rand, round, n int) []*kgo.Record {
	t.Helper()
	cl := b.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(opTimeout),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	// kgo measures the delivery timeout from the record timestamp, so keep
	// it near now.
	base := time.Now().UnixMilli()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := &kgo.Record{
			Topic:     topic,
			Value:     randBytes(rng, rng.IntN(300)),
			Timestamp: time.UnixMilli(base + int64(i)),
		}
		if i%7 != 0 { // some null keys
			r.Key = randBytes(rng, 1+rng.IntN(16))
		}
		for h := range rng.IntN(3) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d-%d", round, h), Value: randBytes(rng, rng.IntN(20))})
		}
		recs[i] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce round %d: %v", round, err)
	}
	return recs
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// checkAll reads every partition from the start and compares it with the
// acknowledged records: same offsets, keys, values, headers and timestamps.
func checkAll(t *testing.T, b *harness.Broker, acked []*kgo.Record) {
	t.Helper()
	want := map[int32][]*kgo.Record{}
	for _, r := range acked {
		want[r.Partition] = append(want[r.Partition], r)
	}
	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := b.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}), kgo.FetchMaxWait(500*time.Millisecond))
	defer cl.Close()

	got := map[int32][]*kgo.Record{}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for n := 0; n < len(acked); {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records within %v", n, len(acked), opTimeout)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			n++
		})
	}
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Errorf("partition %d: %d records, want %d", p, len(gs), len(ws))
		}
		for i := range min(len(gs), len(ws)) {
			if d := diff(ws[i], gs[i]); d != "" {
				t.Errorf("partition %d record %d: %s", p, i, d)
				break
			}
		}
	}
}

func diff(w, g *kgo.Record) string {
	switch {
	case w.Offset != g.Offset:
		return fmt.Sprintf("offset %d, want %d", g.Offset, w.Offset)
	case (w.Key == nil) != (g.Key == nil) || !bytes.Equal(w.Key, g.Key):
		return fmt.Sprintf("offset %d: key %q, want %q", g.Offset, g.Key, w.Key)
	case !bytes.Equal(w.Value, g.Value):
		return fmt.Sprintf("offset %d: value %q, want %q", g.Offset, g.Value, w.Value)
	case !w.Timestamp.Equal(g.Timestamp):
		return fmt.Sprintf("offset %d: timestamp %v, want %v", g.Offset, g.Timestamp, w.Timestamp)
	case len(w.Headers) != len(g.Headers):
		return fmt.Sprintf("offset %d: %d headers, want %d", g.Offset, len(g.Headers), len(w.Headers))
	}
	for i := range w.Headers {
		if w.Headers[i].Key != g.Headers[i].Key || !bytes.Equal(w.Headers[i].Value, g.Headers[i].Value) {
			return fmt.Sprintf("offset %d: header %d = %q=%q, want %q=%q", g.Offset, i,
				g.Headers[i].Key, g.Headers[i].Value, w.Headers[i].Key, w.Headers[i].Value)
		}
	}
	return ""
}
