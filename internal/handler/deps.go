package handler

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/purgatory"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/txn"
)

// Deps are the subsystems the handlers call. The server fills them in.
type Deps struct {
	NodeID int32
	Logger *slog.Logger
	Clock  clock.Clock

	// Image returns the current metadata image: topics, ids, partitions,
	// leaders and epochs. It must not return nil.
	Image func() *metadata.Image
	// Logs finds the local partition logs.
	Logs Logs
	// Waits wakes long-poll fetches when a partition gets data.
	Waits *purgatory.Purgatory[TopicPartition]
	// TopicConfig returns a topic's resolved configuration (broker defaults
	// plus the topic's overrides). Nil means the broker defaults.
	TopicConfig func(topic string) config.Topic
	// LogDir is the directory DescribeLogDirs reports.
	LogDir string

	// Meta is the cluster metadata store the admin APIs change (topics,
	// partitions, topic configs).
	Meta *metadata.Store
	// Config is the broker configuration (auto-create, defaults, the
	// advertised listener, DescribeConfigs). Nil means config.Defaults().
	Config *config.Broker

	// Replicas is the broker's partition replicas (leader/follower state,
	// ISR, high watermark). Nil: single-node behaviour, and follower fetches
	// are refused.
	Replicas *replica.Manager

	// Groups is the group coordinator (consumer groups, committed offsets).
	// Nil: the group APIs answer COORDINATOR_NOT_AVAILABLE.
	Groups *group.Coordinator

	// Txn is the transaction coordinator (producer ids, transactions).
	// Nil: InitProducerId and the transaction APIs answer
	// COORDINATOR_NOT_AVAILABLE and transactional produce is not verified.
	Txn *txn.Coordinator

	// Brokers sends a request to another broker of the cluster (the
	// transaction coordinator, for KIP-890 verification of a produce on a
	// partition this broker leads). Nil: single node.
	Brokers BrokerClient
}

// BrokerClient sends Kafka requests to other brokers, by node id.
type BrokerClient interface {
	Request(ctx context.Context, node int32, req kmsg.Request, resp kmsg.Response) error
}

// Logs finds partition logs; *commitlog.Manager implements it through the
// server.
type Logs interface {
	// Get returns the log of a partition, or nil if this broker has none.
	Get(topic string, partition int32) *commitlog.Log
}

// TopicPartition names a partition; it keys the purgatory.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (h *Handlers) logger() *slog.Logger {
	if h.deps.Logger == nil {
		return slog.Default()
	}
	return h.deps.Logger
}

func (h *Handlers) clock() clock.Clock {
	if h.deps.Clock == nil {
		return clock.Real
	}
	return h.deps.Clock
}

func (h *Handlers) topicConfig(topic string) config.Topic {
	if h.deps.TopicConfig == nil {
		b := config.Defaults()
		return b.Log
	}
	return h.deps.TopicConfig(topic)
}
