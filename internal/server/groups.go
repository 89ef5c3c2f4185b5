package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
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

// newGroups builds the group coordinator over __consumer_offsets, created on
// first use (the first FindCoordinator), as Kafka does.
func (s *Server) newGroups() (*group.Coordinator, error) {
	gcfg, err := GroupConfig(s.cfg)
	if err != nil {
		return nil, err
	}
	gcfg.Topics = imageTopics{s.meta}
	storage := &group.TopicStorage{
		Clock: s.opts.Clock,
		EnsureTopic: func(context.Context) error {
			im := s.meta.Image()
			if im.Topic(group.TopicName) != nil {
				return nil
			}
			rf := min(gcfg.ReplicationFactor, int16(max(len(im.Brokers), 1)))
			_, err := s.meta.CreateTopic(metadata.CreateTopicRequest{
				Name: group.TopicName, Partitions: gcfg.NumPartitions, ReplicationFactor: rf, Configs: group.TopicConfigs,
			}, false)
			if errors.Is(err, metadata.ErrTopicExists) {
				return nil
			}
			return err
		},
		Partition: func(p int32) (*commitlog.Log, int32, bool) {
			t := s.meta.Image().Topic(group.TopicName)
			if t == nil || int(p) >= len(t.Partitions) {
				return nil, 0, false
			}
			l, ok := s.logs.Get(group.TopicName, p)
			return l, t.Partitions[p].LeaderEpoch, ok
		},
	}
	return group.NewCoordinator(gcfg, s.opts.Clock, storage, s.logger)
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
