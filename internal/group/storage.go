package group

import (
	"context"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/coordinator"
)

// TopicStorage is the Storage of a broker: __consumer_offsets lives in its
// metadata and commit logs. The server fills in the two functions.
type TopicStorage struct {
	// EnsureTopic creates __consumer_offsets (compacted, NumPartitions
	// partitions) unless it exists. It must be idempotent.
	EnsureTopic func(ctx context.Context) error
	// Partition returns the local log of partition p of __consumer_offsets
	// and its leader epoch; ok is false while the broker has no log for it
	// (it creates logs as the metadata image changes).
	Partition func(p int32) (l *commitlog.Log, leaderEpoch int32, ok bool)
	// Clock stamps the batches; nil means clock.Real.
	Clock clock.Clock
	// LogWait bounds how long OpenPartition waits for the log to appear
	// after the topic exists. Default 10s.
	LogWait time.Duration
}

// OpenPartition implements Storage.
func (s *TopicStorage) OpenPartition(ctx context.Context, p int32) (coordinator.Log, error) {
	if err := s.EnsureTopic(ctx); err != nil {
		return nil, fmt.Errorf("create %s: %w", TopicName, err)
	}
	clk := s.Clock
	if clk == nil {
		clk = clock.Real
	}
	wait := s.LogWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		if l, epoch, ok := s.Partition(p); ok {
			return coordinator.NewPartitionLog(l, clk, epoch), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("no local log for %s-%d after %v", TopicName, p, wait)
		case <-poll.C:
		}
	}
}

// TopicConfigs are the topic configs of __consumer_offsets, as Kafka sets
// them (offsets.topic.segment.bytes, offsets.topic.compression.codec).
var TopicConfigs = map[string]string{
	"cleanup.policy":   "compact",
	"segment.bytes":    "104857600",
	"compression.type": "producer",
}
