package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Event is one line of the history, Jepsen style: an operation is an
// "invoke" followed by "ok", "fail" (definitely did not happen) or "info"
// (indeterminate). Polls are logged as one "ok" event with their records.
type Event struct {
	Type      string        `json:"type"` // invoke, ok, fail, info, nemesis
	F         string        `json:"f"`    // send, poll, or the nemesis action
	Process   string        `json:"process"`
	Partition int32         `json:"partition"`
	Value     string        `json:"value,omitempty"`
	Offset    int64         `json:"offset"`
	Records   []Polled      `json:"records,omitempty"`
	Err       string        `json:"err,omitempty"`
	Wall      time.Time     `json:"wall"`
	Mono      time.Duration `json:"mono"` // since the history began (monotonic)
}

// Polled is one record a poll returned.
type Polled struct {
	Offset int64  `json:"offset"`
	Value  string `json:"value"`
}

// History is an append-only, concurrency-safe list of events.
type History struct {
	mu     sync.Mutex
	start  time.Time
	events []Event
	w      io.Writer // optional JSON-lines copy
}

// NewHistory starts a history; w (may be nil) receives a JSON line per event.
func NewHistory(w io.Writer) *History { return &History{start: time.Now(), w: w} }

// Add stamps e with both clocks and appends it.
func (h *History) Add(e Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	e.Wall, e.Mono = now, now.Sub(h.start)
	h.events = append(h.events, e)
	if h.w != nil {
		b, _ := json.Marshal(e)
		h.w.Write(append(b, '\n'))
	}
	return e
}

// Now is the monotonic time since the history began.
func (h *History) Now() time.Duration { return time.Since(h.start) }

// Events returns a copy of the events so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// workload runs producers and assign-mode consumers against one topic.
type workload struct {
	h          *History
	seeds      []string
	topic      string
	partitions int32
	producers  int
	consumers  int
	rate       float64 // sends per second, all producers together
	logf       func(string, ...any)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	sent   atomic.Int64
}

// run starts the producers and consumers; stop ends them.
func (w *workload) run(ctx context.Context, seed uint64) {
	ctx, w.cancel = context.WithCancel(ctx)
	for i := range w.producers {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.produce(ctx, i, seed+uint64(i)) }()
	}
	for i := range w.consumers {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.consume(ctx, fmt.Sprintf("c%d", i)) }()
	}
}

// stop stops invoking and waits (bounded by the clients' delivery timeout)
// for outstanding sends to complete.
func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *workload) produce(ctx context.Context, id int, seed uint64) {
	proc := fmt.Sprintf("p%d", id)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(w.seeds...),
		kgo.DefaultProduceTopic(w.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(20*time.Second),
		kgo.ProduceRequestTimeout(8*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryTimeout(20*time.Second),
	)
	if err != nil {
		w.logf("%s: %v", proc, err)
		return
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	every := time.Duration(float64(time.Second) * float64(w.producers) / w.rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	inflight := make(chan struct{}, 32)
	var pending sync.WaitGroup
	defer pending.Wait()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		p := rng.Int32N(w.partitions)
		v := fmt.Sprintf("%s-%d", proc, seq)
		w.h.Add(Event{Type: "invoke", F: "send", Process: proc, Partition: p, Value: v, Offset: -1})
		pending.Add(1)
		w.sent.Add(1)
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", p), Value: []byte(v), Partition: p}
		// The produce context is not ctx: stopping the workload must not
		// turn outstanding sends into indeterminate ones.
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			defer pending.Done()
			<-inflight
			if err != nil {
				// Without knowing whether the broker appended it, every
				// produce error is indeterminate.
				w.h.Add(Event{Type: "info", F: "send", Process: proc, Partition: p, Value: v, Offset: -1, Err: err.Error()})
				return
			}
			w.h.Add(Event{Type: "ok", F: "send", Process: proc, Partition: r.Partition, Value: v, Offset: r.Offset})
		})
	}
}

func (w *workload) consumeClient(start map[int32]kgo.Offset) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(w.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: start}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryTimeout(20*time.Second),
	)
}

func (w *workload) consume(ctx context.Context, proc string) {
	start := map[int32]kgo.Offset{}
	for p := range w.partitions {
		start[p] = kgo.NewOffset().At(0)
	}
	cl, err := w.consumeClient(start)
	if err != nil {
		w.logf("%s: %v", proc, err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		w.record(proc, fs)
	}
}

// record adds one poll event per partition with records.
func (w *workload) record(proc string, fs kgo.Fetches) int {
	n := 0
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		e := Event{Type: "ok", F: "poll", Process: proc, Partition: fp.Partition}
		for _, r := range fp.Records {
			e.Records = append(e.Records, Polled{Offset: r.Offset, Value: string(r.Value)})
		}
		n += len(fp.Records)
		w.h.Add(e)
	})
	return n
}

// drain reads every partition from offset 0 to its end offset with a fresh
// client, for at most d; it returns an error if it could not reach the ends.
func (w *workload) drain(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(w.seeds...), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		return err
	}
	defer adm.Close()
	var ends kadm.ListedOffsets
	for {
		ends, err = kadm.NewClient(adm).ListEndOffsets(ctx, w.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("drain: end offsets: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	for p := range w.partitions {
		o, ok := ends.Lookup(w.topic, p)
		if !ok {
			return fmt.Errorf("drain: no end offset for partition %d", p)
		}
		if o.Offset > 0 {
			want[p] = o.Offset
			start[p] = kgo.NewOffset().At(0)
		}
	}
	if len(want) == 0 {
		return nil
	}
	cl, err := w.consumeClient(start)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("drain: partitions %v not read to their end offsets within %v", want, d)
		}
		w.record("drain", fs)
		fs.EachRecord(func(r *kgo.Record) {
			if e, ok := want[r.Partition]; ok && r.Offset+1 >= e {
				delete(want, r.Partition)
			}
		})
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				w.logf("drain: fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
	}
	return nil
}
