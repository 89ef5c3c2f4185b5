package txn

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

// BenchmarkProduceIdempotence compares produce throughput with idempotence
// on (franz-go's default) and off against one broker process, in one run:
//
//	go test ./test/txn -run - -bench ProduceIdempotence -benchtime 20000x
func BenchmarkProduceIdempotence(b *testing.B) {
	br := harness.Start(b)
	value := make([]byte, 100)
	for _, idem := range []bool{false, true} {
		b.Run("idempotent="+strconv.FormatBool(idem), func(b *testing.B) {
			opts := []kgo.Opt{kgo.SeedBrokers(br.Addr), kgo.DefaultProduceTopic("bench-idem"), kgo.AllowAutoTopicCreation()}
			if !idem {
				// kgo allows one produce request in flight per broker without
				// idempotence, five with it: give both five, so that the
				// ratio is the broker's sequence checks, not the client's
				// pipelining.
				opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkTransactions measures committed transactions per second, each
// with ten records (flushed before EndTransaction: kgo's EndTransaction does
// nothing for a transaction no record has reached yet).
func BenchmarkTransactions(b *testing.B) {
	br := harness.Start(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr), kgo.TransactionalID("bench"), kgo.DefaultProduceTopic("bench-tx"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := make([]byte, 100)
	b.ResetTimer()
	for range b.N {
		if err := cl.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		for range 10 {
			cl.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxnOffsetCommits measures transactions that only commit a
// group's offsets (AddOffsetsToTxn, TxnOffsetCommit, EndTxn): the durable
// path of consume-transform-produce's offsets through __consumer_offsets.
func BenchmarkTxnOffsetCommits(b *testing.B) {
	br := harness.Start(b)
	createTopicB(b, br.Client(), "in")
	r := &rawTxn{t: b, cl: br.Client(), id: "bench-offsets"}
	r.init()
	b.ResetTimer()
	for i := range b.N {
		r.commitOffsets("bench-g", int64(i))
		r.end(true)
	}
}

func createTopicB(b *testing.B, cl *kgo.Client, name string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name); err != nil {
		b.Fatalf("create topic %s: %v", name, err)
	}
}
