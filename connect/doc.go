// Package connect is Kavka's public Connect API: the service-provider
// interface (SPI) that connectors implement, and the building blocks the
// worker applies to every record — converters, single message transforms
// (SMTs) and predicates — with Kafka Connect's names and config keys.
//
// A source connector reads an external system and turns it into records
// that carry a source partition and source offset; the worker writes them to
// Kafka and, only after they are acknowledged, stores their offsets so that a
// restarted task resumes where the last durable record left off. A sink
// connector receives records consumed from Kafka; the worker commits the
// consumer offsets only after the task's Flush has succeeded. Both give
// at-least-once delivery.
//
// The worker that runs connectors (standalone and distributed, the REST API,
// offset storage, error handling) lives in connect/runtime, and the bundled
// connectors in connect/connectors/…. This package talks to nothing: it
// must never import Kavka's internal/ packages, and the runtime reaches
// brokers only through franz-go, so connectors work against any Kafka
// cluster.
//
// Values follow Kafka Connect's data model, mapped onto plain Go values:
//
//	int8..int64        int8, int16, int32, int64
//	float32, float64   float32, float64
//	boolean, string    bool, string
//	bytes              []byte
//	array              []any
//	map                map[string]any (keys are strings in JSON)
//	struct             map[string]any, field order from the Schema
//
// A nil *Schema means the value is schemaless (as Kafka's JsonConverter with
// schemas.enable=false produces).
package connect
