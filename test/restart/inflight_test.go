package restart

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

// TestSIGKILLDuringProduceKeepsAcked kills the broker while an acks=all
// producer is busy: after the restart every acknowledged record must be at
// the offset it was acknowledged with, with its value (G-DUR on one node:
// Kavka acknowledges acks=all only once fsynced). Records in flight at the
// kill may or may not be there.
func TestSIGKILLDuringProduceKeepsAcked(t *testing.T) {
	b := harness.Start(t)
	createTopic(t, b)

	type ack struct {
		partition int32
		offset    int64
		value     []byte
	}
	var (
		mu    sync.Mutex
		acked []ack
	)
	cl := b.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordRetries(3), kgo.RequestRetries(2))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 1_000_000; i++ {
			r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%50)), Value: []byte(fmt.Sprintf("v%08d", i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked = append(acked, ack{r.Partition, r.Offset, r.Value})
					mu.Unlock()
				}
			})
		}
	}()
	// Kill once a good number of records are acknowledged (bounded).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 {
			break
		}
	}
	b.Kill()
	cancel()
	abortCtx, abortCancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = cl.AbortBufferedRecords(abortCtx)
	abortCancel()
	wg.Wait()
	cl.Close()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no record was acknowledged before the kill")
	}
	t.Logf("%d records acknowledged before SIGKILL", len(acked))

	b.Restart()
	checkTopic(t, b)
	adm := kadm.NewClient(b.Client())
	lctx, lcancel := context.WithTimeout(context.Background(), opTimeout)
	defer lcancel()
	ends, err := adm.ListEndOffsets(lctx, topic)
	if err != nil {
		t.Fatalf("end offsets after restart: %v", err)
	}
	want := map[int32]int64{}
	for _, a := range acked {
		want[a.partition] = max(want[a.partition], a.offset+1)
	}
	total := int64(0)
	for p, w := range want {
		o, ok := ends.Lookup(topic, p)
		if !ok || o.Err != nil || o.Offset < w {
			t.Fatalf("partition %d: end offset after restart %+v, want at least %d (the acknowledged end)", p, o, w)
		}
		total += o.Offset
	}

	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cons := b.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}), kgo.FetchMaxWait(500*time.Millisecond))
	got := map[int32]map[int64][]byte{}
	seen := map[string]int64{}
	cctx, ccancel := context.WithTimeout(context.Background(), opTimeout)
	defer ccancel()
	for n := int64(0); n < total; {
		fetches := cons.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("read %d of %d records after restart within %v", n, total, opTimeout)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] == nil {
				got[r.Partition] = map[int64][]byte{}
			}
			got[r.Partition][r.Offset] = r.Value
			if prev, dup := seen[string(r.Value)]; dup {
				t.Errorf("value %s at offsets %d and %d (duplicate)", r.Value, prev, r.Offset)
			}
			seen[string(r.Value)] = r.Offset
			n++
		})
	}
	lost := 0
	for _, a := range acked {
		if v, ok := got[a.partition][a.offset]; !ok || !bytes.Equal(v, a.value) {
			if lost < 5 {
				t.Errorf("acknowledged %s at %d/%d, read back %q", a.value, a.partition, a.offset, v)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records lost or changed", lost, len(acked))
	}
}
