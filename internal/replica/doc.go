// Package replica is the data plane of Kafka's ISR replication: for each
// local partition it keeps the role the metadata gives this broker (leader or
// follower) and the leader epoch; a leader tracks each follower's fetch
// offset and last-caught-up time, the in-sync replica set (ISR) and the high
// watermark, proposes ISR changes through AlterPartition (KIP-497), and
// answers acks=all produce requests once the high watermark passes them; a
// follower fetches from its leader with the ordinary Fetch API (one fetcher
// per source broker, as Kafka's ReplicaFetcherThread) and truncates its log
// where it diverges from the leader's (KIP-101, KIP-279, KIP-320 / KIP-595
// DivergingEpoch).
//
// Kavka is durable by default: a leader serves followers only data that is
// fsynced on the leader, and a follower fsyncs what it fetched before it asks
// for more, so a follower's fetch offset is durable on it and the high
// watermark (the smallest fetch offset over the ISR and the leader's own
// durable end) only covers records that are on disk on every ISR member.
//
// Mirrors kafka.cluster.Partition, kafka.server.ReplicaManager and
// kafka.server.ReplicaFetcherThread. See DESIGN.md.
//
// Package replica imports commitlog, purgatory, clock and kmsg; never
// metadata, handler or server (the server translates the metadata image into
// State values and supplies an AlterPartition implementation).
package replica
