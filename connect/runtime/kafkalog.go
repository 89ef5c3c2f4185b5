package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLog reads one compacted topic from the beginning, forever, and hands
// every record to apply on its own goroutine (run). readToEnd waits until
// everything written before the call has been applied. Mirrors Kafka's
// KafkaBasedLog.
type kafkaLog struct {
	topic string
	cl    *kgo.Client // a direct (group-less) consumer of every partition
	adm   *kadm.Client
	apply func(*kgo.Record) // called on the run goroutine only
	log   *slog.Logger

	mu sync.Mutex
	// The fields below are guarded by mu.
	next    map[int32]int64 // partition → offset after the last applied record
	changed chan struct{}   // closed and replaced whenever next advances
}

func newKafkaLog(seeds []string, topic string, adm *kadm.Client, apply func(*kgo.Record), log *slog.Logger) (*kafkaLog, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("%s reader: %w", topic, err)
	}
	return &kafkaLog{topic: topic, cl: cl, adm: adm, apply: apply, log: log,
		next: map[int32]int64{}, changed: make(chan struct{})}, nil
}

// run applies records until ctx ends; it closes the consumer on return.
func (l *kafkaLog) run(ctx context.Context) error {
	defer l.cl.Close()
	for {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				l.log.Warn("connect: read internal topic", "topic", t, "partition", p, "err", err)
			}
		})
		advanced := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			l.apply(r)
			advanced[r.Partition] = r.Offset + 1
		})
		if len(advanced) == 0 {
			continue
		}
		l.mu.Lock()
		for p, o := range advanced {
			l.next[p] = o
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
}

// position returns the offset after the last applied record of partition p.
func (l *kafkaLog) position(p int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next[p]
}

// readToEnd waits (at most 30 s, or until ctx ends) until every record
// written before the call has been applied.
func (l *kafkaLog) readToEnd(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := l.adm.ListEndOffsets(ctx, l.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("read %s to end: %w", l.topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	for {
		l.mu.Lock()
		behind := false
		for p, end := range want {
			if l.next[p] < end {
				behind = true
				break
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s to end: %w", l.topic, ctx.Err())
		case <-ch:
		}
	}
}
