package handler

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
)

// partitionLog finds the metadata and the local log of a partition. A topic
// or partition that does not exist, or that this broker holds no log for,
// is errUnknownPartition.
func (h *Handlers) partitionLog(im *metadata.Image, topic string, partition int32) (*commitlog.Log, *metadata.Partition, error) {
	t := im.Topic(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%w: %s-%d", errUnknownPartition, topic, partition)
	}
	l := h.deps.Logs.Get(topic, partition)
	if l == nil {
		return nil, nil, fmt.Errorf("%w: %s-%d has no local log", errUnknownPartition, topic, partition)
	}
	return l, &t.Partitions[partition], nil
}

// checkLeaderEpoch is KIP-320's fencing: a client's current leader epoch
// older than ours is FENCED_LEADER_EPOCH, newer is UNKNOWN_LEADER_EPOCH, -1
// skips the check. Any other negative epoch is older than every real one
// and fenced, as in Kafka (RequestUtils.getLeaderEpoch treats only -1 as
// absent).
func checkLeaderEpoch(current int32, p *metadata.Partition) int16 {
	switch {
	case current == -1 || current == p.LeaderEpoch:
		return 0
	case current < p.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}

// advanceHighWatermark moves a partition's high watermark up to hw (never
// down) and wakes the fetches waiting on it. On a single node the high
// watermark is the durable log end offset.
func (h *Handlers) advanceHighWatermark(l *commitlog.Log, hw int64) {
	h.hwMu.Lock()
	moved := hw > l.HighWatermark()
	if moved {
		l.SetHighWatermark(hw)
	}
	h.hwMu.Unlock()
	if moved && h.deps.Waits != nil {
		h.deps.Waits.Notify(TopicPartition{l.Topic(), l.Partition()})
	}
}
