package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/txn"
)

// producerIDsFile is the durable producer-id block counter in the data
// directory (txn.FileIDs).
const producerIDsFile = "producer-ids"

// newTxn builds the transaction coordinator over __transaction_state
// (created on first use), with producer ids from the data directory, the
// handlers as marker writer and the group coordinator for transactional
// offsets. It also rebuilds every local log's producer state, so that the
// last stable offsets are right before the first fetch.
func (s *Server) newTxn(lazy *lazyHandler) (*txn.Coordinator, error) {
	for _, l := range s.logs.Logs() {
		if err := l.LoadProducerState(); err != nil {
			s.logger.Error("load producer state", "topic", l.Topic(), "partition", l.Partition(), "err", err)
		}
	}
	cfg := TxnConfig(s.cfg)
	cfg.OffsetsTopic = group.TopicName
	cfg.OffsetsPartitions = s.groups.Config().NumPartitions
	s.logs.SetProducerIDExpiration(time.Duration(s.cfg.Txn.ProducerIDExpirationMs) * time.Millisecond)
	ids, err := txn.OpenFileIDs(s.opts.FS, s.opts.FS.PathJoin(s.cfg.DataDir, producerIDsFile))
	if err != nil {
		return nil, fmt.Errorf("producer ids: %w", err)
	}
	var src txn.IDs = ids
	if s.cfg.Quorum() {
		src = nodeIDs{ids: ids, node: int64(s.cfg.NodeID)}
	}
	return txn.New(cfg, s.opts.Clock, &txnStorage{s: s, cfg: cfg}, src, lazyMarkers{lazy}, groupOffsets{s.groups}, s.logger)
}

// nodeIDs makes the producer ids of the brokers of a cluster disjoint: every
// broker has its own durable counter, so broker n hands out n<<32 | counter
// (node ids are unique and positive). Without it every broker started at 0
// and two idempotent producers could get one id from two brokers; a leader
// then took one's batches for retries of the other's and acked them without
// appending them. Kafka gets the same guarantee from AllocateProducerIds.
type nodeIDs struct {
	ids  *txn.FileIDs
	node int64
}

func (n nodeIDs) Next() (int64, error) {
	id, err := n.ids.Next()
	if err != nil {
		return 0, err
	}
	if id >= 1<<32 {
		return 0, txn.ErrProducerIDsExhausted
	}
	return n.node<<32 | id, nil
}

// TxnConfig turns the broker's transaction.* and
// transactional.id.expiration.ms keys into the transaction coordinator's
// configuration (producer.id.expiration.ms goes to the logs).
func TxnConfig(b *config.Broker) txn.Config {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	t := b.Txn
	c := txn.DefaultConfig()
	c.NumPartitions = t.StateLogNumPartitions
	c.ReplicationFactor = t.StateLogReplicationFactor
	c.MaxTimeout = ms(t.MaxTimeoutMs)
	c.AbortCheckInterval = ms(t.AbortTimedOutCleanupIntervalMs)
	c.IDExpiration = ms(t.TransactionalIDExpirationMs)
	c.IDExpirationCheck = ms(t.RemoveExpiredCleanupIntervalMs)
	c.NoPartitionVerification = !t.PartitionVerification
	return c
}

// txnStorage opens partitions of __transaction_state.
type txnStorage struct {
	s   *Server
	cfg txn.Config
}

// LocalPartitions implements txn.Local: the partitions of
// __transaction_state with a local log.
func (t *txnStorage) LocalPartitions() []int32 {
	tp := t.s.meta.Image().Topic(txn.TopicName)
	if tp == nil {
		return nil
	}
	var out []int32
	for p := range int32(len(tp.Partitions)) {
		if _, ok := t.s.logs.Get(txn.TopicName, p); ok {
			out = append(out, p)
		}
	}
	return out
}

func (t *txnStorage) ensureTopic() error {
	im := t.s.meta.Image()
	if im.Topic(txn.TopicName) != nil {
		return nil
	}
	rf := internalTopicRF(im, t.cfg.ReplicationFactor)
	configs := maps.Clone(txn.TopicConfigs)
	configs["segment.bytes"] = strconv.FormatInt(t.s.cfg.Txn.StateLogSegmentBytes, 10)
	_, err := t.s.meta.CreateTopic(metadata.CreateTopicRequest{
		Name: txn.TopicName, Partitions: t.cfg.NumPartitions, ReplicationFactor: rf, Configs: configs,
	}, false)
	if errors.Is(err, metadata.ErrTopicExists) {
		return nil
	}
	return err
}

// OpenPartition implements txn.Storage: the coordinator epoch is the
// partition's leader epoch; only the leader opens it (coordinators.go).
func (t *txnStorage) OpenPartition(ctx context.Context, p int32) (coordinator.Log, int32, error) {
	if err := t.ensureTopic(); err != nil {
		return nil, 0, fmt.Errorf("create %s: %w", txn.TopicName, err)
	}
	return t.s.openCoordinatorLog(ctx, txn.TopicName, p, txn.ErrNotCoordinator)
}

// lazyMarkers writes markers through the handlers, which exist only after
// the coordinator.
type lazyMarkers struct{ lazy *lazyHandler }

func (m lazyMarkers) WriteMarkers(ctx context.Context, r txn.MarkerRequest) map[txn.TopicPartition]error {
	return m.lazy.h.Load().WriteMarkers(ctx, r)
}

// groupOffsets adapts the group coordinator to txn.Offsets.
type groupOffsets struct{ g *group.Coordinator }

func (o groupOffsets) CommitTxnOffsets(ctx context.Context, r txn.TxnCommitRequest) error {
	m := make(map[group.TopicPartition]group.Offset, len(r.Offsets))
	for tp, v := range r.Offsets {
		m[group.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = group.Offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata}
	}
	return o.g.TxnCommitOffsets(ctx, group.TxnCommitRequest{
		Group: r.Group, MemberID: r.MemberID, InstanceID: r.InstanceID, Generation: r.Generation,
		ProducerID: r.ProducerID, ProducerEpoch: r.Epoch, Offsets: m, Guard: r.Guard,
	})
}
