package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/IBM/sarama"
)

// runSaramaGroup consumes topic from the beginning as a member of group
// with sarama's ConsumerGroup (classic protocol), prints every record until
// n arrived, marks and commits their offsets synchronously, and leaves.
func runSaramaGroup(ctx context.Context, brokers, topic, group string, n int, out io.Writer) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "kavka-interop-sarama-group"
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	cg, err := sarama.NewConsumerGroup([]string{brokers}, group, cfg)
	if err != nil {
		return fmt.Errorf("new consumer group: %w", err)
	}
	defer cg.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &groupHandler{n: n, out: out, done: cancel}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.got < n {
		return fmt.Errorf("got %d of %d records: %w", h.got, n, ctx.Err())
	}
	return nil
}

type groupHandler struct {
	n    int
	out  io.Writer
	done func()

	mu  sync.Mutex
	got int
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		if h.got >= h.n {
			h.mu.Unlock()
			return nil
		}
		fmt.Fprintf(h.out, "%d\t%d\t%s\t%s\n", m.Partition, m.Offset, m.Key, m.Value)
		h.got++
		full := h.got == h.n
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if full {
			s.Commit()
			h.done()
			return nil
		}
	}
	return nil
}
