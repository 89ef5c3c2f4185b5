// Package commitlog is Kavka's durable partition log: an append-only,
// offset-addressed sequence of Kafka record batches (magic 2) stored in
// segment files with sparse offset and time indexes, exactly as Kafka lays
// them out (<20-digit base>.log, .index, .timeindex).
//
// A [Log] is one partition. It appends batches the producer sent without
// re-encoding them (only the base offset, the partition leader epoch and, for
// LogAppendTime topics, the max timestamp and CRC are rewritten), serves reads
// as file regions ready for sendfile, rolls segments, truncates for
// replication, keeps the leader-epoch cache, and recovers from a crash by
// truncating a torn or corrupt tail. Durability is explicit: by default an
// append is acknowledged only after [Log.WaitDurable], which batches many
// appends into one fsync (group commit).
//
// A [Manager] owns a data directory of many logs, the checkpoint files and
// the clean-shutdown marker, and runs the background work (retention,
// compaction, the flush.ms flusher, checkpoints) in [Manager.Run].
//
// All disk I/O goes through internal/vfs and all time through
// internal/clock. See DESIGN.md in this directory for the formats, the
// goroutines and the lock order.
//
// Package commitlog imports only internal/record, internal/vfs and
// internal/clock from Kavka.
package commitlog
