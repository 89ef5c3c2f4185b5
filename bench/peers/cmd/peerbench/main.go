// Command peerbench writes records to a peer of Kavka as fast as that peer's
// own Go client allows, for bench/compare.sh:
//
//	peerbench nats  --url nats://127.0.0.1:4222 --count 100000 --record-size 1024
//	peerbench redis --addr 127.0.0.1:6379 --count 100000 --record-size 1024
//
// NATS: JetStream stream with file storage, asynchronous publish with a
// bounded window of unacknowledged messages (the server acknowledges after
// its write, with no fsync per message). Redis: XADD in pipelines on a few
// connections, several pipelines in flight (durability comes from the server's
// appendfsync setting).
//
// It prints one line: RESULT system=… records=… bytes=… seconds=…
// records_per_sec=… mb_per_sec=… errors=… (MB = 10^6 bytes of values).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// runTimeout bounds a whole run.
const runTimeout = 10 * time.Minute

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peerbench nats|redis [flags]")
		os.Exit(2)
	}
	system := os.Args[1]
	fs := flag.NewFlagSet(system, flag.ExitOnError)
	count := fs.Int("count", 100_000, "records to write")
	size := fs.Int("record-size", 1024, "value size in bytes")
	url := fs.String("url", "nats://127.0.0.1:4222", "NATS server URL")
	addr := fs.String("addr", "127.0.0.1:6379", "Redis address")
	window := fs.Int("window", 4096, "NATS: unacknowledged publishes in flight; Redis: commands per pipeline")
	parallel := fs.Int("parallel", 8, "Redis: connections, each with one pipeline in flight")
	_ = fs.Parse(os.Args[2:])

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	vals := values(*size)
	var (
		n, errs int64
		elapsed time.Duration
		err     error
	)
	switch system {
	case "nats":
		n, errs, elapsed, err = runNATS(ctx, *url, *count, *window, vals)
	case "redis":
		n, errs, elapsed, err = runRedis(ctx, *addr, *count, *window, *parallel, vals)
	default:
		err = fmt.Errorf("unknown system %q", system)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
	secs := elapsed.Seconds()
	bytes := n * int64(*size)
	fmt.Printf("RESULT system=%s records=%d bytes=%d seconds=%.3f records_per_sec=%.0f mb_per_sec=%.2f errors=%d\n",
		system, n, bytes, secs, float64(n)/secs, float64(bytes)/1e6/secs, errs)
}

// values returns 64 distinct random-text values of the given size; records
// cycle through them (the peers do not compress, so repetition is harmless).
func values(size int) [][]byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,"
	r := rand.New(rand.NewPCG(1, 2))
	vs := make([][]byte, 64)
	for i := range vs {
		v := make([]byte, size)
		for j := range v {
			v[j] = alphabet[r.IntN(len(alphabet))]
		}
		vs[i] = v
	}
	return vs
}

func runNATS(ctx context.Context, url string, count, window int, vals [][]byte) (n, errs int64, d time.Duration, err error) {
	nc, err := nats.Connect(url, nats.Timeout(10*time.Second))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("nats connect: %w", err)
	}
	defer nc.Close()
	var failed atomic.Int64
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }),
	)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("jetstream: %w", err)
	}
	const stream, subject = "PEERBENCH", "peerbench.records"
	_ = js.DeleteStream(ctx, stream) // a fresh stream per run; absent is fine
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject}, Storage: jetstream.FileStorage, Replicas: 1,
	}); err != nil {
		return 0, 0, 0, fmt.Errorf("create stream: %w", err)
	}
	start := time.Now()
	for i := range count {
		if _, err := js.PublishAsync(subject, vals[i%len(vals)]); err != nil {
			failed.Add(1)
			if ctx.Err() != nil {
				break
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, 0, 0, fmt.Errorf("waiting for acks: %w", ctx.Err())
	}
	d = time.Since(start)
	errs = failed.Load()
	return int64(count) - errs, errs, d, nil
}

func runRedis(ctx context.Context, addr string, count, pipeline, parallel int, vals [][]byte) (n, errs int64, d time.Duration, err error) {
	parallel = max(parallel, 1)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: parallel})
	defer rdb.Close()
	const stream = "peerbench"
	if err := rdb.Del(ctx, stream).Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("redis: %w", err)
	}
	// Several pipelines in flight let the client build one while Redis
	// runs another, as several producers would.
	var next, failed atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range parallel {
		g.Go(func() error {
			for {
				from := int(next.Add(int64(pipeline))) - pipeline
				if from >= count {
					return nil
				}
				batch := min(pipeline, count-from)
				p := rdb.Pipeline()
				for i := range batch {
					p.XAdd(gctx, &redis.XAddArgs{Stream: stream, Values: []any{"v", vals[(from+i)%len(vals)]}})
				}
				cmds, err := p.Exec(gctx)
				if err != nil && !errors.Is(err, redis.Nil) {
					var bad int64
					for _, c := range cmds {
						if c.Err() != nil {
							bad++
						}
					}
					if bad == 0 || gctx.Err() != nil {
						return fmt.Errorf("xadd: %w", err)
					}
					failed.Add(bad)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, 0, err
	}
	d = time.Since(start)
	errs = failed.Load()
	return int64(count) - errs, errs, d, nil
}
