// Package txn provides producer ids and the transaction coordinator:
// InitProducerId (idempotent and transactional producers, KIP-98, KIP-360
// epoch bumps), the transaction state machine over the partitions of
// __transaction_state (Kafka's TxnMetadataKey/TxnMetadataValue records),
// AddPartitionsToTxn and AddOffsetsToTxn, TxnOffsetCommit held until the
// transaction ends, EndTxn with commit/abort markers written through the
// Markers seam, transaction timeouts, and KIP-890 verification of
// transactional produce.
//
// The per-partition half of idempotence (sequence numbers, duplicates, the
// last stable offset, the aborted-transactions index) lives with the log in
// internal/commitlog (producer_state.go).
//
// Mirrors Kafka's kafka.coordinator.transaction (TransactionCoordinator,
// TransactionStateManager, TransactionMarkerChannelManager) and
// ProducerIdManager. See DESIGN.md.
//
// The package must not import internal/handler, internal/server or
// internal/group; the group coordinator is reached through Offsets.
package txn
