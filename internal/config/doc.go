// Package config is the one definition of every broker and topic
// configuration Kavka accepts: its Kafka name, type, default, documentation,
// valid values, scope (broker or topic) and whether it may change at run time.
// The definition table in defs.go drives parsing (Broker.Set), validation
// (ValidateTopicConfig), the DescribeConfigs answer (Broker.DescribeBroker,
// Broker.DescribeTopic) and the reference page docs/configs.md (kept in sync by
// TestDocsInSync; regenerate with `go test ./internal/config -run
// TestDocsInSync -update`).
//
// Names, defaults, ranges and error messages follow Apache Kafka (the
// reference is Kafka 3.9/4.x's KafkaConfig, ServerLogConfigs and
// TopicConfig/LogConfig). Deviations, all documented in the doc string of the
// key concerned:
//
//   - flush.messages and flush.ms: when neither is set, on the topic or on the
//     broker (log.flush.interval.messages, log.flush.interval.ms), Kavka makes
//     every write durable before it is acknowledged (group-commit fsync) —
//     Topic.SyncOnAck is true. Kafka instead never forces a flush. Setting
//     either key gives Kafka's periodic-flush behaviour.
//   - node.id defaults to 1 and log.dir to ./kavka-data, so that `kavka serve`
//     works without a config file; listeners defaults to
//     PLAINTEXT://127.0.0.1:9092.
//   - segment.bytes keeps Kafka 3.x's minimum (14 bytes), not 4.0's 1 MiB, so
//     that tests can roll small segments.
//   - cluster.id is a Kavka key (Kafka keeps it only in meta.properties).
//
// The package imports nothing from Kavka; every other package may use it.
package config
