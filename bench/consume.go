package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// pollWait bounds one poll so that stop conditions are checked often.
const pollWait = 500 * time.Millisecond

// consume runs cfg.Consumers decoding consumers, partition p going to
// consumer p % Consumers, each partition starting at start[p].
//
// In consume mode (end != nil) a consumer stops when its partitions reach
// end, when Count records were consumed in total, or after Duration. In e2e
// mode (end == nil) the consumers record end-to-end latency and stop once
// producing is closed and they have seen every record prod acknowledged, or
// drainTimeout after that.
func consume(ctx context.Context, cfg *Config, ti *topicInfo, start, end map[int32]int64,
	rec, prod *recorder, producing <-chan struct{}) error {
	if end != nil && cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var total atomic.Int64
	e2e := end == nil
	g, gctx := errgroup.WithContext(ctx)
	for i := range cfg.Consumers {
		assign := map[int32]kgo.Offset{}
		for _, p := range ti.partitions {
			if int(p)%cfg.Consumers == i {
				assign[p] = kgo.NewOffset().At(start[p])
			}
		}
		if len(assign) == 0 {
			continue
		}
		g.Go(func() error {
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(cfg.Brokers...),
				kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: assign}),
				kgo.FetchMaxWait(pollWait),
			)
			if err != nil {
				return fmt.Errorf("consumer client: %w", err)
			}
			defer cl.Close()
			pos := map[int32]int64{}
			for p := range assign {
				pos[p] = start[p]
			}
			var drainBy time.Time
			lastProgress := time.Now()
			for {
				// Stop conditions, checked between bounded polls.
				if gctx.Err() != nil {
					return nil
				}
				if cfg.Count > 0 && total.Load() >= cfg.Count {
					return nil
				}
				if !e2e && caughtUp(pos, end) {
					return nil
				}
				if !e2e && time.Since(lastProgress) > drainTimeout {
					return fmt.Errorf("consume stalled for %s at %v, want %v", drainTimeout, pos, end)
				}
				if e2e {
					select {
					case <-producing:
						if drainBy.IsZero() {
							drainBy = time.Now().Add(drainTimeout)
						}
						n, _, _ := prod.counts()
						if total.Load() >= n || time.Now().After(drainBy) {
							return nil
						}
					default:
					}
				}
				pctx, cancel := context.WithTimeout(gctx, pollWait)
				fs := cl.PollFetches(pctx)
				cancel()
				if fs.IsClientClosed() {
					return nil
				}
				fs.EachError(func(t string, p int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
						rec.fail(fmt.Errorf("fetch %s/%d: %w", t, p, err))
					}
				})
				now := time.Now()
				var n int64
				rec.mu.Lock()
				fs.EachRecord(func(r *kgo.Record) {
					lat := time.Duration(-1)
					if e2e {
						if len(r.Value) >= 8 {
							lat = now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Value))))
						} else {
							lat = now.Sub(r.Timestamp)
						}
						lat = max(lat, 0)
					}
					rec.addLocked(1, int64(len(r.Key)+len(r.Value)), lat)
					pos[r.Partition] = r.Offset + 1
					n++
				})
				rec.mu.Unlock()
				total.Add(n)
				if n > 0 {
					lastProgress = now
				}
			}
		})
	}
	return g.Wait()
}

// caughtUp reports whether every partition in pos reached its end offset.
func caughtUp(pos, end map[int32]int64) bool {
	for p, o := range pos {
		if o < end[p] {
			return false
		}
	}
	return true
}
