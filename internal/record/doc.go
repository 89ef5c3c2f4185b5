// Package record reads, validates and rewrites Kafka record batches (magic 2),
// the unit Kavka stores on disk and sends on the wire exactly as the producer
// sent it. See https://kafka.apache.org/documentation/#recordbatch.
//
// The hot path (validation and offset assignment on produce) works on the
// batch bytes in place: it checks the header and the CRC32C, then rewrites
// the base offset and, for LogAppendTime topics, the max timestamp and the
// CRC. It never re-encodes. The one decompression on that path is
// ValidateRecords, which the produce handler runs once per compressed batch
// to check its records (docs/adr/0007-produce-validation.md); record-level
// decoding is otherwise for the cleaner, the coordinators, tools and tests.
//
// Package record imports nothing from Kavka.
package record
