// Package coordinator is the runtime shared by the group and transaction
// coordinators: the seam between a coordinator's in-memory state and the
// partition of its internal topic (__consumer_offsets, __transaction_state)
// that makes that state durable.
//
// A coordinator keeps one shard per partition of its internal topic. Every
// state change Kafka persists becomes a Record appended to the shard's Log;
// the response waits until the Log says the record is durable; on start (or
// when the partition moves here) the shard replays the Log to rebuild its
// state. Mirrors Kafka's org.apache.kafka.coordinator.common.runtime
// (CoordinatorRuntime, CoordinatorShard).
//
// The package must not import internal/group, internal/txn or internal/handler.
package coordinator
