package config

// Txn is the transaction coordinator's and the producer state's part of the
// broker configuration (transaction.*, transactional.id.expiration.ms,
// producer.id.expiration.ms), in Kafka's units. internal/server turns it
// into txn.Config and the logs' producer-id expiration.
type Txn struct {
	// MaxTimeoutMs is transaction.max.timeout.ms.
	MaxTimeoutMs int64
	// StateLogNumPartitions is transaction.state.log.num.partitions.
	StateLogNumPartitions int32
	// StateLogReplicationFactor is transaction.state.log.replication.factor.
	StateLogReplicationFactor int16
	// StateLogSegmentBytes is transaction.state.log.segment.bytes.
	StateLogSegmentBytes int64
	// AbortTimedOutCleanupIntervalMs is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms.
	AbortTimedOutCleanupIntervalMs int64
	// RemoveExpiredCleanupIntervalMs is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	RemoveExpiredCleanupIntervalMs int64
	// PartitionVerification is transaction.partition.verification.enable
	// (KIP-890 part 1).
	PartitionVerification bool
	// TransactionalIDExpirationMs is transactional.id.expiration.ms.
	TransactionalIDExpirationMs int64
	// ProducerIDExpirationMs is producer.id.expiration.ms.
	ProducerIDExpirationMs int64
}
