package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// flushTimeout bounds the wait for the last acknowledgements of a run.
const flushTimeout = 60 * time.Second

// payloadBytes is the size of the shared random text values are cut from
// for compressed runs: large enough that values in one batch rarely
// overlap, so compression ratios are those of the text, not of repeated
// records. Uncompressed runs cut values from the first hotPayloadBytes only,
// which stay in the CPU cache: copying values from all of 16 MiB made
// memmove a quarter of the client's CPU at 100-byte records.
const (
	payloadBytes    = 16 << 20
	hotPayloadBytes = 256 << 10
)

var (
	payloadOnce sync.Once
	payload     []byte
)

// sharedPayload returns random text of 64 symbols (6 bits of entropy per
// byte, so codecs shrink it to about 3/4, as for mixed log text).
func sharedPayload() []byte {
	payloadOnce.Do(func() {
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,"
		r := rand.New(rand.NewPCG(1, 2))
		payload = make([]byte, payloadBytes)
		for i := 0; i < len(payload); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < len(payload); j++ {
				payload[i+j] = alphabet[v&63]
				v >>= 6
			}
		}
	})
	return payload
}

// codec maps a compression name to kgo's codec.
func codec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// producerOpts maps a Config to kgo options.
func producerOpts(cfg *Config) []kgo.Opt {
	c, _ := codec(cfg.Compression) // checked by Validate
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerBatchCompression(c),
		kgo.ProducerBatchMaxBytes(cfg.BatchBytes),
		kgo.ProducerLinger(cfg.Linger),
		kgo.RecordDeliveryTimeout(flushTimeout),
		// Like kafka-producer-perf-test's buffer.memory (32 MiB): enough
		// in flight to keep every partition busy, bounded memory.
		kgo.MaxBufferedBytes(32 << 20),
		kgo.MaxBufferedRecords(max(10_000, (32<<20)/max(cfg.RecordSize, 1))),
	}
	switch cfg.Acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
}

// produce runs cfg.Producers clients until d has passed or count records
// were sent (whichever is set; both zero is an error), at rate records/s in
// total (0: max). With stamp, each value starts with the send time in Unix
// nanoseconds. Acknowledged records and their ack latency go to rec.
func produce(ctx context.Context, cfg *Config, rec *recorder, rate float64, d time.Duration, count int64, stamp bool) error {
	if d == 0 && count == 0 {
		return fmt.Errorf("produce: neither duration nor count")
	}
	keyN, _ := cfg.keySpace() // checked by Validate
	var keys [][]byte
	for i := range keyN {
		keys = append(keys, []byte("key-"+strconv.Itoa(i)))
	}
	pay := sharedPayload()
	if cfg.Compression == "none" && cfg.RecordSize <= hotPayloadBytes/4 {
		pay = pay[:hotPayloadBytes]
	}
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range cfg.Producers {
		share := count / int64(cfg.Producers)
		if int64(i) < count%int64(cfg.Producers) {
			share++
		}
		if count > 0 && share == 0 {
			continue
		}
		g.Go(func() error {
			cl, err := kgo.NewClient(producerOpts(cfg)...)
			if err != nil {
				return fmt.Errorf("producer client: %w", err)
			}
			defer cl.Close()
			p := &producerLoop{
				cl: cl, rec: rec, keys: keys, keyN: keyN, pay: pay, size: cfg.RecordSize, stamp: stamp,
				rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano()))),
			}
			p.run(gctx, rate/float64(cfg.Producers), deadline, share, start)
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			if err := cl.Flush(fctx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// producerLoop is one producer goroutine's state.
type producerLoop struct {
	cl    *kgo.Client
	rec   *recorder
	keys  [][]byte
	keyN  int // 0 none, -1 random, else len(keys)
	pay   []byte
	size  int
	stamp bool
	rng   *rand.Rand
}

// run sends records until the deadline (if set), count records (if > 0) or
// ctx is done, pacing to rate records/s when rate > 0.
func (p *producerLoop) run(ctx context.Context, rate float64, deadline time.Time, count int64, start time.Time) {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			p.rec.fail(err)
			return
		}
		p.rec.add(1, int64(len(r.Key)+len(r.Value)), time.Since(r.Timestamp))
	}
	var now time.Time
	for i := int64(0); count == 0 || i < count; i++ {
		// At full speed a record takes about a microsecond, so reading the
		// clock for every 16th is exact enough and saves a tenth of the
		// client's CPU (time.Now is not cheap on every VM).
		if interval > 0 || p.stamp || i%16 == 0 {
			if ctx.Err() != nil {
				return
			}
			now = time.Now()
			if !deadline.IsZero() && !now.Before(deadline) {
				return
			}
		}
		if interval > 0 {
			// Open loop: a late record goes at once; an early one waits
			// (sleeps under half a millisecond are not worth the wakeup).
			due := start.Add(time.Duration(i) * interval)
			if wait := due.Sub(now); wait > 500*time.Microsecond {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				now = time.Now()
			}
		}
		r := &kgo.Record{Timestamp: now}
		switch {
		case p.keyN > 0:
			r.Key = p.keys[p.rng.IntN(p.keyN)]
		case p.keyN < 0:
			k := make([]byte, 16)
			binary.LittleEndian.PutUint64(k, p.rng.Uint64())
			binary.LittleEndian.PutUint64(k[8:], p.rng.Uint64())
			r.Key = k
		}
		off := p.rng.IntN(len(p.pay) - p.size + 1)
		if p.stamp && p.size >= 8 {
			v := make([]byte, p.size)
			copy(v, p.pay[off:off+p.size])
			binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
			r.Value = v
		} else {
			r.Value = p.pay[off : off+p.size : off+p.size]
		}
		p.cl.Produce(ctx, r, promise)
	}
}
