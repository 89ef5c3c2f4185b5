package config

import "fmt"

// Group is the group coordinator's part of the broker configuration, in
// Kafka's units (milliseconds, minutes). internal/server turns it into the
// coordinator's group.Config.
type Group struct {
	// MinSessionTimeoutMs is group.min.session.timeout.ms.
	MinSessionTimeoutMs int64
	// MaxSessionTimeoutMs is group.max.session.timeout.ms.
	MaxSessionTimeoutMs int64
	// InitialRebalanceDelayMs is group.initial.rebalance.delay.ms.
	InitialRebalanceDelayMs int64
	// MaxSize is group.max.size.
	MaxSize int64
	// OffsetsTopicNumPartitions is offsets.topic.num.partitions.
	OffsetsTopicNumPartitions int32
	// OffsetsTopicReplicationFactor is offsets.topic.replication.factor.
	OffsetsTopicReplicationFactor int16
	// OffsetsRetentionMinutes is offsets.retention.minutes.
	OffsetsRetentionMinutes int64
	// OffsetsRetentionCheckIntervalMs is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckIntervalMs int64
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int64

	// ConsumerProtocol is true when group.coordinator.rebalance.protocols
	// lists consumer (KIP-848).
	ConsumerProtocol bool
	// ConsumerSessionTimeoutMs is group.consumer.session.timeout.ms.
	ConsumerSessionTimeoutMs int64
	// ConsumerMinSessionTimeoutMs is group.consumer.min.session.timeout.ms.
	ConsumerMinSessionTimeoutMs int64
	// ConsumerMaxSessionTimeoutMs is group.consumer.max.session.timeout.ms.
	ConsumerMaxSessionTimeoutMs int64
	// ConsumerHeartbeatIntervalMs is group.consumer.heartbeat.interval.ms.
	ConsumerHeartbeatIntervalMs int64
	// ConsumerMinHeartbeatIntervalMs is group.consumer.min.heartbeat.interval.ms.
	ConsumerMinHeartbeatIntervalMs int64
	// ConsumerMaxHeartbeatIntervalMs is group.consumer.max.heartbeat.interval.ms.
	ConsumerMaxHeartbeatIntervalMs int64
	// ConsumerMaxSize is group.consumer.max.size.
	ConsumerMaxSize int64
	// ConsumerAssignors is group.consumer.assignors; the first is the default.
	ConsumerAssignors []string
}

// Validate checks the relations between group keys, as Kafka's
// GroupCoordinatorConfig does at start-up. Set cannot check them (each key is
// set alone, in any order); the server calls Validate before it starts.
func (g *Group) Validate() error {
	switch {
	case g.MinSessionTimeoutMs > g.MaxSessionTimeoutMs:
		return &ConfigError{Name: "group.min.session.timeout.ms", Msg: fmt.Sprintf("group.min.session.timeout.ms %d must not be above group.max.session.timeout.ms %d", g.MinSessionTimeoutMs, g.MaxSessionTimeoutMs)}
	case g.ConsumerSessionTimeoutMs < g.ConsumerMinSessionTimeoutMs || g.ConsumerSessionTimeoutMs > g.ConsumerMaxSessionTimeoutMs:
		return &ConfigError{Name: "group.consumer.session.timeout.ms", Msg: fmt.Sprintf("group.consumer.session.timeout.ms %d must be within [group.consumer.min.session.timeout.ms %d, group.consumer.max.session.timeout.ms %d]", g.ConsumerSessionTimeoutMs, g.ConsumerMinSessionTimeoutMs, g.ConsumerMaxSessionTimeoutMs)}
	case g.ConsumerHeartbeatIntervalMs < g.ConsumerMinHeartbeatIntervalMs || g.ConsumerHeartbeatIntervalMs > g.ConsumerMaxHeartbeatIntervalMs:
		return &ConfigError{Name: "group.consumer.heartbeat.interval.ms", Msg: fmt.Sprintf("group.consumer.heartbeat.interval.ms %d must be within [group.consumer.min.heartbeat.interval.ms %d, group.consumer.max.heartbeat.interval.ms %d]", g.ConsumerHeartbeatIntervalMs, g.ConsumerMinHeartbeatIntervalMs, g.ConsumerMaxHeartbeatIntervalMs)}
	case g.ConsumerHeartbeatIntervalMs >= g.ConsumerSessionTimeoutMs:
		return &ConfigError{Name: "group.consumer.heartbeat.interval.ms", Msg: fmt.Sprintf("group.consumer.heartbeat.interval.ms %d must be below group.consumer.session.timeout.ms %d", g.ConsumerHeartbeatIntervalMs, g.ConsumerSessionTimeoutMs)}
	}
	return nil
}

func checkClassic(v value) string {
	if !contains(v.list, "classic") {
		return "The classic protocol cannot be disabled"
	}
	return ""
}
