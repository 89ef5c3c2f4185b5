// Package metadata is the cluster metadata of a Kavka node: which brokers
// exist, which topics, their ids, partitions, replicas, leaders and config
// overrides.
//
// It keeps the shape of Kafka's KRaft: every change is a batch of records
// (TopicRecord, PartitionRecord, ConfigRecord, RemoveTopicRecord, as in
// Kafka's metadata record schemas) appended to a durable log; the state is the
// immutable Image obtained by replaying the records. Today the log is a local
// file and the Store is its only writer (single-node mode); later the same
// records go through the raft group and every broker replays them.
//
// On disk, under <data-dir>:
//
//	meta.properties                 cluster.id, node.id, version (written once)
//	__cluster_metadata-0/records.log one batch per line: "<crc32c, 8 hex> <json>\n"
//
// A mutating call returns only after its batch is written and fsynced (the
// file, and the directory when the file was created). On Open the log is
// replayed; a torn or corrupt last line (a crash in the middle of a write) is
// cut off; corruption followed by valid lines is an error. When the log holds
// many more records than the image needs it is rewritten as a snapshot (write
// a new file, fsync, rename, fsync the directory).
//
// In cluster mode (OpenReplicated, process.roles set) the same batches are
// committed through a Quorum (the controllers' raft group, adapted by
// internal/server) and applied on every member; the Store's mutations run on
// the active controller and are forwarded there from other brokers; brokers
// register, heartbeat, are fenced and unfenced, and partition leaders are
// elected from the ISR (see quorum.go and docs/adr/0005-metadata-quorum.md).
//
// Concurrency: Image is lock-free (an atomic pointer to an immutable Image).
// Mutations are serialized by Store.mu, which is held while subscribers run,
// so subscribers see every change once, in order, and must not call the
// Store's mutating methods.
//
// The package imports config, vfs and clock only.
package metadata
