package server

import (
	"context"
	"errors"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

// newGroups builds the group coordinator over __consumer_offsets, created on
// first use (the first FindCoordinator), as Kafka does.
func (s *Server) newGroups() (*group.Coordinator, error) {
	gcfg := group.DefaultConfig()
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
