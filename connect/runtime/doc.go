// Package runtime is the Kafka Connect worker: it runs connectors and tasks
// written against the connect SPI, in standalone mode (NewStandalone: one
// worker, configurations in memory, offsets in a file) or distributed mode
// (NewDistributed: workers of one group.id share connectors and tasks
// through a "connect" group; configurations, source offsets and statuses
// live in compacted topics), and serves Kafka Connect's REST API (NewAPI).
//
// It talks to brokers only through franz-go (kgo, kadm, kmsg) and never
// imports Kavka's internal packages, so it works against any Kafka cluster.
// See connect/DESIGN.md for goroutines, locks and formats.
package runtime
