// Package group is Kavka's group coordinator: consumer groups with the
// classic rebalance protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup;
// KIP-394 member ids, KIP-345 static membership) and committed offsets
// (OffsetCommit, OffsetFetch, OffsetDelete, retention).
//
// The broker only relays assignments: assignors (range, roundrobin, sticky,
// cooperative-sticky) run in the clients, unchanged.
//
// State lives in shards, one per partition of __consumer_offsets; each shard
// is guarded by its own mutex and made durable through a coordinator.Log in
// Kafka's key/value schemas (kmsg.OffsetCommitKey/Value,
// GroupMetadataKey/Value). A response that depends on a persisted change is
// sent only once the record is durable. See DESIGN.md.
//
// The package must not import internal/handler or internal/server; it sees
// its storage only through the Storage interface.
package group
