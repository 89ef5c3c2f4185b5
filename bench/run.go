package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminTimeout bounds each admin request (create topic, list offsets).
const adminTimeout = 30 * time.Second

// drainTimeout bounds how long e2e consumers may trail the producers once
// producing has stopped.
const drainTimeout = 10 * time.Second

// Run executes one run. Progress lines go to progress once a second (nil:
// none). The context bounds the whole run; cancelling it ends the run early
// with the results so far.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	t0 := time.Now()
	topic, err := prepareTopic(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	topicReady := time.Since(t0)
	idle, err := openIdle(ctx, cfg.Brokers[0], cfg.IdleConnections)
	if err != nil {
		return nil, err
	}
	defer idle.close()

	res := &Result{Config: cfg, Extra: map[string]float64{}}
	if cfg.Partitions >= 1000 {
		// Creating (or finding) a topic this large is itself a figure.
		res.Extra["topic_ready_ms"] = float64(topicReady.Milliseconds())
	}
	if cfg.IdleConnections > 0 {
		res.Extra["idle_connections"] = float64(len(idle.conns))
	}
	switch cfg.Mode {
	case ModeProduce:
		err = runProduceMode(ctx, &cfg, res, progress)
	case ModeConsume:
		err = runConsumeMode(ctx, &cfg, topic, res, progress)
	case ModeE2E:
		err = runE2EMode(ctx, &cfg, topic, res, progress)
	}
	res.Config = cfg
	if res.Seconds > 0 {
		res.RecordsPerSec = float64(res.Records) / res.Seconds
		res.MBPerSec = float64(res.Bytes) / 1e6 / res.Seconds
	}
	if len(res.Extra) == 0 {
		res.Extra = nil
	}
	return res, err
}

// topicInfo is what consumers need to know about the topic.
type topicInfo struct {
	id         [16]byte
	partitions []int32
	leaders    map[int32]int32 // partition → leader broker id
}

// prepareTopic creates the topic if it is missing and reads its partitions.
// Partitions is set to the topic's real partition count.
func prepareTopic(ctx context.Context, cfg *Config) (*topicInfo, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp, err := adm.CreateTopic(cctx, cfg.Partitions, cfg.ReplicationFactor, nil, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic %s: %w", cfg.Topic, err)
	}
	// A new topic may take a moment to have leaders everywhere; poll a
	// bounded number of times.
	var lastErr error
	for range 100 {
		md, err := adm.Metadata(cctx, cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("metadata %s: %w", cfg.Topic, err)
		}
		td, ok := md.Topics[cfg.Topic]
		lastErr = td.Err
		if ok && td.Err == nil && len(td.Partitions) > 0 {
			ti := &topicInfo{id: td.ID, leaders: map[int32]int32{}}
			ready := true
			for _, p := range td.Partitions.Sorted() {
				if p.Leader < 0 || p.Err != nil {
					ready, lastErr = false, fmt.Errorf("partition %d: leader %d: %v", p.Partition, p.Leader, p.Err)
					break
				}
				ti.partitions = append(ti.partitions, p.Partition)
				ti.leaders[p.Partition] = p.Leader
			}
			if ready {
				cfg.Partitions = int32(len(ti.partitions))
				return ti, nil
			}
		}
		select {
		case <-cctx.Done():
			return nil, fmt.Errorf("topic %s not ready: %w (last: %v)", cfg.Topic, cctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("topic %s not ready: %v", cfg.Topic, lastErr)
}

// endOffsets lists the topic's end offsets per partition.
func endOffsets(ctx context.Context, brokers []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	lo, err := kadm.NewClient(cl).ListEndOffsets(cctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var ferr error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && ferr == nil {
			ferr = fmt.Errorf("list end offsets %s/%d: %w", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

func runProduceMode(ctx context.Context, cfg *Config, res *Result, progress io.Writer) error {
	rec := newRecorder()
	stopTick := startTicker(progress, rec, nil, res)
	start := time.Now()
	err := produce(ctx, cfg, rec, cfg.Rate, cfg.Duration, cfg.Count, false)
	res.Seconds = time.Since(start).Seconds()
	stopTick()
	fill(res, rec, "ack")
	return err
}

func runConsumeMode(ctx context.Context, cfg *Config, ti *topicInfo, res *Result, progress io.Writer) error {
	if cfg.PrefillBytes > 0 {
		n, err := prefill(ctx, cfg)
		if err != nil {
			return err
		}
		res.Extra["prefilled_records"] = float64(n)
	}
	start, err := startOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return err
	}
	end, err := endOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return err
	}
	if cfg.Count == 0 && cfg.Duration == 0 {
		var n int64
		for p, e := range end {
			n += e - start[p]
		}
		if n == 0 {
			return fmt.Errorf("topic %s is empty: produce first or set prefill", cfg.Topic)
		}
	}
	rec := newRecorder()
	stopTick := startTicker(progress, rec, nil, res)
	t0 := time.Now()
	if cfg.RawFetch {
		err = rawFetch(ctx, cfg, ti, start, end, rec)
		res.Seconds = time.Since(t0).Seconds()
		stopTick()
		fill(res, rec, "fetch")
		return err
	}
	err = consume(ctx, cfg, ti, start, end, rec, nil, nil)
	res.Seconds = time.Since(t0).Seconds()
	stopTick()
	fill(res, rec, "")
	res.Latency = nil
	return err
}

func runE2EMode(ctx context.Context, cfg *Config, ti *topicInfo, res *Result, progress io.Writer) error {
	if cfg.Rate == 0 && cfg.PeakFraction > 0 {
		// The peak is the ack rate of the second half of the calibration:
		// the first half fills the client's buffer and the page cache and
		// overstates what the broker sustains.
		cal := newRecorder()
		fmt.Fprintf(progress, "calibrating: produce at max for %s\n", cfg.CalibrateFor)
		var half atomic.Int64
		half.Store(-1)
		t0 := time.Now()
		mid := time.AfterFunc(cfg.CalibrateFor/2, func() {
			n, _, _ := cal.counts()
			half.Store(n)
		})
		err := produce(ctx, cfg, cal, 0, cfg.CalibrateFor, 0, false)
		mid.Stop()
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		n, _, _ := cal.counts()
		tEnd := time.Now()
		peak := float64(n) / tEnd.Sub(t0).Seconds()
		if h := half.Load(); h >= 0 {
			peak = float64(n-h) / tEnd.Sub(t0.Add(cfg.CalibrateFor/2)).Seconds()
		}
		cfg.Rate = peak * cfg.PeakFraction
		res.Extra["calibrated_peak_rps"] = peak
		fmt.Fprintf(progress, "calibrated peak %.0f records/s; e2e at %.0f records/s\n", peak, cfg.Rate)
	}
	start, err := endOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return err
	}
	prod, cons := newRecorder(), newRecorder()
	stopTick := startTicker(progress, cons, prod, res)
	defer stopTick()

	cctx, cancelConsume := context.WithCancel(ctx)
	defer cancelConsume()
	producing := make(chan struct{})
	var consErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // joined below
		defer wg.Done()
		consErr = consume(cctx, cfg, ti, start, nil, cons, prod, producing)
	}()
	t0 := time.Now()
	prodErr := produce(ctx, cfg, prod, cfg.Rate, cfg.Duration, cfg.Count, true)
	close(producing)
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	stopTick()
	fill(res, cons, "e2e")
	np, _, pe := prod.counts()
	res.Extra["produced"] = float64(np)
	res.Extra["produce_errors"] = float64(pe)
	if pl := prod.latency(); pl != nil {
		res.Extra["produce_ack_p99_ms"] = pl.P99
	}
	return errors.Join(prodErr, consErr)
}

// fill copies a recorder's totals into res.
func fill(res *Result, rec *recorder, kind string) {
	rec.mu.Lock()
	res.Records, res.Bytes, res.Errors = rec.records, rec.bytes, rec.errors
	if rec.firstErr != nil {
		res.FirstError = rec.firstErr.Error()
	}
	rec.mu.Unlock()
	res.Latency = rec.latency()
	res.LatencyKind = kind
}

// startOffsets lists the topic's log start offsets per partition.
func startOffsets(ctx context.Context, brokers []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	lo, err := kadm.NewClient(cl).ListStartOffsets(cctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets %s: %w", topic, err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		if o.Offset < 0 {
			o.Offset = 0
		}
		out[o.Partition] = o.Offset
	})
	return out, nil
}

// prefill produces until the topic holds PrefillBytes of values, reusing
// what an earlier run left. It returns the records it produced.
func prefill(ctx context.Context, cfg *Config) (int64, error) {
	start, err := startOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return 0, err
	}
	end, err := endOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return 0, err
	}
	var have int64
	for p, e := range end {
		have += e - start[p]
	}
	want := cfg.PrefillBytes / int64(cfg.RecordSize)
	if have >= want {
		return 0, nil
	}
	pc := *cfg
	pc.Acks, pc.Idempotent = "1", false
	rec := newRecorder()
	if err := produce(ctx, &pc, rec, 0, 0, want-have, false); err != nil {
		return 0, fmt.Errorf("prefill: %w", err)
	}
	n, _, _ := rec.counts()
	return n, nil
}

// startTicker prints a progress line every second and appends a timeline
// point from main; aux (may be nil) adds the produce rate for e2e. The
// returned stop function joins the ticker goroutine; it may be called more
// than once.
func startTicker(w io.Writer, main, aux *recorder, res *Result) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() { // joined by stop
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				p := main.tick(now.Sub(start), now.Sub(last))
				res.Timeline = append(res.Timeline, p)
				n, _, errs := main.counts()
				line := fmt.Sprintf("[%4.0fs] %9.0f rec/s %8.2f MB/s", p.T, p.RecordsPerSec, p.MBPerSec)
				if aux != nil {
					a := aux.tick(now.Sub(start), now.Sub(last))
					line += fmt.Sprintf(" (produced %9.0f rec/s)", a.RecordsPerSec)
				}
				if p.Max > 0 {
					line += fmt.Sprintf("  p50 %7.3f p99 %7.3f max %7.3f ms", p.P50, p.P99, p.Max)
				}
				line += fmt.Sprintf("  total %d errors %d\n", n, errs)
				_, _ = io.WriteString(w, line)
				last = now
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
