package connect

import (
	"fmt"
	"time"
)

// Record is one record as connectors and transforms see it: a source task
// produces it, a sink task receives it.
type Record struct {
	// Topic is where a source record is written, or where a sink record was
	// read from (after transforms, possibly renamed by a router).
	Topic string
	// Partition is the Kafka partition. For source records a negative value
	// lets the producer's partitioner choose (by key). Sink records carry the
	// partition they were read from.
	Partition int32

	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any

	// Timestamp is the record's timestamp; zero means "now" for a source
	// record.
	Timestamp time.Time
	Headers   []Header

	// SourcePartition and SourceOffset say where in the external system a
	// source record came from (for example {"filename": "/x"} and
	// {"position": 1234}). The worker stores the offset of the last record of
	// each source partition once Kafka has acknowledged it, and gives it back
	// through SourceTaskContext.Offset after a restart. Both must be
	// JSON-encodable (strings, numbers, booleans).
	SourcePartition map[string]any
	SourceOffset    map[string]any

	// Offset is the Kafka offset of a sink record (set by the worker).
	Offset int64
}

// Header is a record header. Kafka Connect header values are typed; Kavka
// keeps them as the raw bytes Kafka carries.
type Header struct {
	Key   string
	Value []byte
}

// Header returns the value of the last header named key.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }
