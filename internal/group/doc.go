// Package group is Kavka's group coordinator: consumer groups with the
// classic rebalance protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup;
// KIP-394 member ids, KIP-345 static membership) and committed offsets
// (OffsetCommit, OffsetFetch, OffsetDelete, retention).
//
// The broker only relays classic assignments: assignors (range, roundrobin,
// sticky, cooperative-sticky) run in the clients, unchanged. KIP-848 consumer
// groups (ConsumerGroupHeartbeat) are assigned on the broker by the uniform
// or range assignor, with member epochs and revocation before assignment.
//
// State lives in shards, one per partition of __consumer_offsets; each shard
// is guarded by its own mutex and made durable through a coordinator.Log in
// Kafka's key/value schemas (kmsg.OffsetCommitKey/Value,
// GroupMetadataKey/Value; KIP-848 groups use Kafka's key layouts with values
// of Kavka's own, see DESIGN.md). A response that depends on a persisted change is
// sent only once the record is durable. See DESIGN.md.
//
// The package must not import internal/handler or internal/server; it sees
// its storage only through the Storage interface.
package group
