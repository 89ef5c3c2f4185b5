package txn

import (
	"fmt"
	"time"
)

// TopicName is the internal topic of transaction state.
const TopicName = "__transaction_state"

// TopicConfigs are the topic configs of __transaction_state, as Kafka sets
// them (transaction.state.log.segment.bytes, compacted).
var TopicConfigs = map[string]string{
	"cleanup.policy":   "compact",
	"segment.bytes":    "104857600",
	"compression.type": "uncompressed",
}

// Config is the transaction coordinator's configuration. Zero values mean
// Kafka's defaults.
type Config struct {
	// NumPartitions of __transaction_state
	// (transaction.state.log.num.partitions). Default 50.
	NumPartitions int32
	// ReplicationFactor of __transaction_state
	// (transaction.state.log.replication.factor). Default 3, capped by the
	// brokers present.
	ReplicationFactor int16
	// MaxTimeout is the largest transaction timeout a producer may ask for
	// (transaction.max.timeout.ms). Default 15 minutes.
	MaxTimeout time.Duration
	// AbortCheckInterval is how often timed-out transactions are looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	// Default 10 s.
	AbortCheckInterval time.Duration
	// IDExpiration forgets a transactional id idle for this long with no
	// open transaction (transactional.id.expiration.ms). Default 7 days.
	IDExpiration time.Duration
	// IDExpirationCheck is how often idle transactional ids are looked for
	// (transaction.remove.expired.transaction.cleanup.interval.ms).
	// Default 1 hour.
	IDExpirationCheck time.Duration
	// NoPartitionVerification turns off KIP-890 part 1 verification of
	// transactional produce (transaction.partition.verification.enable=false).
	NoPartitionVerification bool
	// OffsetsTopic is the consumer-offsets topic whose partitions
	// AddOffsetsToTxn adds. Default __consumer_offsets.
	OffsetsTopic string
	// OffsetsPartitions is its partition count (offsets.topic.num.partitions).
	// Default 50.
	OffsetsPartitions int32
	// MarkerRetries bounds the attempts to write markers within one request;
	// the ticker retries later. Default 3.
	MarkerRetries int
	// EndTxnMarkerWait is how long EndTxn, once PrepareCommit/PrepareAbort
	// is durable, waits for its markers before answering anyway (Kavka's;
	// Kafka answers at once, docs/adr/0010-endtxn-marker-wait.md): markers
	// normally land within milliseconds, and a producer that starts its
	// next transaction before they do gets CONCURRENT_TRANSACTIONS and
	// backs off (20 ms in kgo and the Java client). Default 500 ms;
	// negative: answer at once.
	EndTxnMarkerWait time.Duration
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	c := Config{}
	_ = c.validate()
	return c
}

func (c *Config) validate() error {
	if c.NumPartitions == 0 {
		c.NumPartitions = 50
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 3
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.AbortCheckInterval == 0 {
		c.AbortCheckInterval = 10 * time.Second
	}
	if c.IDExpiration == 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
	if c.IDExpirationCheck == 0 {
		c.IDExpirationCheck = time.Hour
	}
	if c.OffsetsTopic == "" {
		c.OffsetsTopic = "__consumer_offsets"
	}
	if c.OffsetsPartitions == 0 {
		c.OffsetsPartitions = 50
	}
	if c.MarkerRetries == 0 {
		c.MarkerRetries = 3
	}
	if c.EndTxnMarkerWait == 0 {
		c.EndTxnMarkerWait = 500 * time.Millisecond
	}
	if c.NumPartitions < 1 || c.OffsetsPartitions < 1 || c.MaxTimeout < time.Millisecond || c.AbortCheckInterval < time.Millisecond {
		return fmt.Errorf("txn config: partitions %d, offsets partitions %d, max timeout %v, abort check %v",
			c.NumPartitions, c.OffsetsPartitions, c.MaxTimeout, c.AbortCheckInterval)
	}
	return nil
}
