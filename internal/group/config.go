package group

import (
	"crypto/rand"
	"fmt"
	"math"
	"time"
)

// TopicName is the internal topic that holds committed offsets and group
// metadata.
const TopicName = "__consumer_offsets"

// Config configures the group coordinator. Each field names the Kafka broker
// config it mirrors. Start from DefaultConfig: a zero value in a field whose
// zero is not meaningful is replaced by Kafka's default in validate.
type Config struct {
	// NumPartitions: offsets.topic.num.partitions. Default 50. Must not
	// change once the topic exists: it decides which partition owns a group.
	NumPartitions int32
	// ReplicationFactor: offsets.topic.replication.factor. Default 3; the
	// server caps it to the brokers it has.
	ReplicationFactor int16
	// MinSessionTimeout: group.min.session.timeout.ms. Default 6s.
	MinSessionTimeout time.Duration
	// MaxSessionTimeout: group.max.session.timeout.ms. Default 30 min.
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay: group.initial.rebalance.delay.ms, how long the
	// first rebalance of an empty group waits for more members. Kafka's
	// default is 3s (DefaultConfig); zero means no delay (tests).
	InitialRebalanceDelay time.Duration
	// MaxSize: group.max.size, members per group. Default MaxInt32.
	MaxSize int
	// OffsetsRetention: offsets.retention.minutes. Offsets of a group that
	// has been empty this long (or, for a group without members ever, of
	// commits this old) are deleted. Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval: offsets.retention.check.interval.ms.
	// Default 10 min.
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes: offset.metadata.max.bytes. Default 4096.
	OffsetMetadataMaxBytes int
	// ConsumerProtocol enables KIP-848 consumer groups
	// (group.coordinator.rebalance.protocols lists consumer). When false,
	// ConsumerGroupHeartbeat fails with ErrUnsupportedVersion.
	ConsumerProtocol bool
	// ConsumerSessionTimeout: group.consumer.session.timeout.ms. Default 45s.
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval: group.consumer.heartbeat.interval.ms.
	// Default 5s.
	ConsumerHeartbeatInterval time.Duration
	// ConsumerMaxSize: group.consumer.max.size. Default MaxInt32.
	ConsumerMaxSize int
	// ConsumerAssignors: group.consumer.assignors, by name ("uniform",
	// "range"); the first is the default. Default uniform, range.
	ConsumerAssignors []string
	// Topics looks up topics for the server-side assignors. Nil: no topic
	// exists, every subscription resolves to nothing.
	Topics Topics
	// TickInterval is how often Run checks session, rebalance and retention
	// deadlines; it bounds how late a timeout fires. Default 100ms.
	TickInterval time.Duration
	// NewMemberID returns a new member id for a client (Kafka:
	// clientId + "-" + UUID). Tests set a deterministic one.
	NewMemberID func(clientID string) string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:                 50,
		ReplicationFactor:             3,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxSize:                       math.MaxInt32,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
		ConsumerProtocol:              true,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
		ConsumerMaxSize:               math.MaxInt32,
		ConsumerAssignors:             []string{"uniform", "range"},
		TickInterval:                  100 * time.Millisecond,
		NewMemberID:                   randomMemberID,
	}
}

func (c *Config) validate() error {
	d := DefaultConfig()
	if c.NumPartitions == 0 {
		c.NumPartitions = d.NumPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = d.ReplicationFactor
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = d.MinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.MaxSize == 0 {
		c.MaxSize = d.MaxSize
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = d.OffsetsRetentionCheckInterval
	}
	if c.OffsetMetadataMaxBytes == 0 {
		c.OffsetMetadataMaxBytes = d.OffsetMetadataMaxBytes
	}
	if c.TickInterval == 0 {
		c.TickInterval = d.TickInterval
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = d.ConsumerSessionTimeout
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = d.ConsumerHeartbeatInterval
	}
	if c.ConsumerMaxSize == 0 {
		c.ConsumerMaxSize = d.ConsumerMaxSize
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = d.ConsumerAssignors
	}
	for _, a := range c.ConsumerAssignors {
		if assignorByName(a) == nil {
			return fmt.Errorf("group.consumer.assignors: unknown assignor %q", a)
		}
	}
	if c.NewMemberID == nil {
		c.NewMemberID = d.NewMemberID
	}
	switch {
	case c.NumPartitions < 0:
		return fmt.Errorf("offsets.topic.num.partitions %d: must be positive", c.NumPartitions)
	case c.MinSessionTimeout > c.MaxSessionTimeout:
		return fmt.Errorf("group.min.session.timeout.ms %v above group.max.session.timeout.ms %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("group.initial.rebalance.delay.ms %v: must not be negative", c.InitialRebalanceDelay)
	case c.ConsumerHeartbeatInterval >= c.ConsumerSessionTimeout:
		return fmt.Errorf("group.consumer.heartbeat.interval.ms %v must be below group.consumer.session.timeout.ms %v", c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	case c.MaxSize < 1 || c.ConsumerMaxSize < 1:
		return fmt.Errorf("group.max.size %d: must be at least 1", c.MaxSize)
	case c.TickInterval < 0 || c.OffsetsRetention < 0 || c.OffsetsRetentionCheckInterval < 0:
		return fmt.Errorf("negative duration in group config")
	}
	return nil
}

// randomMemberID is Kafka's member id: the client id, a dash and a random
// UUID (GroupMetadata.generateMemberId).
func randomMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
