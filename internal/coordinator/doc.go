// Package coordinator is the runtime shared by the group and transaction
// coordinators: the seam between a coordinator's in-memory state and the
// partition of its internal topic (__consumer_offsets, __transaction_state)
// that makes that state durable.
//
// A coordinator keeps one shard per partition of its internal topic in a
// Shards table (shards.go): the shard embeds a Slot (its lock and loaded
// log) next to the coordinator's own state machine, loads by replay on
// first use, and unloads after a failed write or a lost leadership; the
// table answers ErrNotCoordinator and ErrNotAvailable. Every state change
// Kafka persists becomes a Record appended to the shard's Log; the response
// waits until the Log says the record is durable; on start (or when the
// partition moves here) the shard replays the Log to rebuild its state.
// Mirrors Kafka's org.apache.kafka.coordinator.common.runtime
// (CoordinatorRuntime, CoordinatorShard).
//
// In a cluster a shard runs only on the leader of its partition: the server
// opens it as a ReplicatedLog, which appends through the replica layer
// (acks=all) in the leader epoch the shard was loaded in and acknowledges a
// record only once it is committed on the ISR; Slot.LoadLocked checks
// Current before every operation and drops the shard's state once the
// leadership moved (the coordinators answer NOT_COORDINATOR), reloading by
// replay if it leads again.
//
// The package must not import internal/group, internal/txn or internal/handler;
// it imports internal/replica for ReplicatedLog.
package coordinator
