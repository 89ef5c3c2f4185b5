// Package record reads, validates and rewrites Kafka record batches (magic 2),
// the unit Kavka stores on disk and sends on the wire exactly as the producer
// sent it. See https://kafka.apache.org/documentation/#recordbatch.
//
// The hot path (validation and offset assignment on produce) works on the
// batch bytes in place: it checks the header and the CRC32C, then rewrites
// the base offset and, for LogAppendTime topics, the max timestamp and the
// CRC. It never decompresses or re-encodes. Record-level decoding and the
// compression codecs are for the cleaner, the tools and tests.
//
// Package record imports nothing from Kavka.
package record
