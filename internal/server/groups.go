package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

// GroupConfig turns the broker's group.* and offsets.* keys into the group
// coordinator's configuration.
func GroupConfig(b *config.Broker) (group.Config, error) {
	g := b.Group
	if err := g.Validate(); err != nil {
		return group.Config{}, fmt.Errorf("group config: %w", err)
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	c := group.DefaultConfig()
	c.NumPartitions = g.OffsetsTopicNumPartitions
	c.ReplicationFactor = g.OffsetsTopicReplicationFactor
	c.MinSessionTimeout = ms(g.MinSessionTimeoutMs)
	c.MaxSessionTimeout = ms(g.MaxSessionTimeoutMs)
	c.InitialRebalanceDelay = ms(g.InitialRebalanceDelayMs)
	c.MaxSize = int(g.MaxSize)
	c.OffsetsRetention = time.Duration(g.OffsetsRetentionMinutes) * time.Minute
	c.OffsetsRetentionCheckInterval = ms(g.OffsetsRetentionCheckIntervalMs)
	c.OffsetMetadataMaxBytes = int(g.OffsetMetadataMaxBytes)
	c.ConsumerProtocol = g.ConsumerProtocol
	c.ConsumerSessionTimeout = ms(g.ConsumerSessionTimeoutMs)
	c.ConsumerHeartbeatInterval = ms(g.ConsumerHeartbeatIntervalMs)
	c.ConsumerMaxSize = int(g.ConsumerMaxSize)
	c.ConsumerAssignors = append([]string(nil), g.ConsumerAssignors...)
	return c, nil
}

// newGroups builds the group coordinator over __consumer_offsets.
func (s *Server) newGroups() (*group.Coordinator, error) {
	gcfg, err := GroupConfig(s.cfg)
	if err != nil {
		return nil, err
	}
	gcfg.Topics = imageTopics{s.meta}
	return group.NewCoordinator(gcfg, s.opts.Clock, groupStorage{s: s, cfg: gcfg}, s.logger)
}

// groupStorage opens partitions of __consumer_offsets for the group
// coordinator: the topic is created on first use (as Kafka does on the first
// FindCoordinator) with RF = min(offsets.topic.replication.factor, live
// brokers), and a partition opens only on its leader (coordinators.go).
type groupStorage struct {
	s   *Server
	cfg group.Config
}

// OpenPartition implements group.Storage.
func (g groupStorage) OpenPartition(ctx context.Context, p int32) (coordinator.Log, error) {
	if err := g.ensureTopic(); err != nil {
		return nil, fmt.Errorf("create %s: %w", group.TopicName, err)
	}
	l, _, err := g.s.openCoordinatorLog(ctx, group.TopicName, p, group.ErrNotCoordinator)
	return l, err
}

func (g groupStorage) ensureTopic() error {
	im := g.s.meta.Image()
	if im.Topic(group.TopicName) != nil {
		return nil
	}
	_, err := g.s.meta.CreateTopic(metadata.CreateTopicRequest{
		Name: group.TopicName, Partitions: g.cfg.NumPartitions, ReplicationFactor: internalTopicRF(im, g.cfg.ReplicationFactor),
		Configs: group.TopicConfigs,
	}, false)
	if errors.Is(err, metadata.ErrTopicExists) {
		return nil
	}
	return err
}

// imageTopics answers the group coordinator's topic lookups from the current
// metadata image.
type imageTopics struct{ meta *metadata.Store }

func (t imageTopics) Topic(name string) (group.TopicInfo, bool) {
	mt := t.meta.Image().Topic(name)
	if mt == nil {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{Name: mt.Name, ID: mt.ID, Partitions: int32(len(mt.Partitions))}, true
}

func (t imageTopics) TopicByID(id [16]byte) (group.TopicInfo, bool) {
	mt := t.meta.Image().TopicByID(id)
	if mt == nil {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{Name: mt.Name, ID: mt.ID, Partitions: int32(len(mt.Partitions))}, true
}

func (t imageTopics) Names() []string {
	im := t.meta.Image()
	names := make([]string, 0, len(im.Topics))
	for n := range im.Topics {
		names = append(names, n)
	}
	return names
}
