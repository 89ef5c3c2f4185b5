// Package bench is the load generator behind `kavka bench`: produce, consume
// and end-to-end runs against any Kafka cluster, in the spirit of
// kafka-producer-perf-test and the OpenMessaging Benchmark.
//
// It talks to brokers only through franz-go (kgo, kadm, kmsg) and must never
// import internal/: users point it at Kafka or Redpanda to compare them with
// Kavka on their own machines.
//
// A run is described by a [Config]; workload files (bench/workloads/*.yaml)
// hold a base Config and a list of runs that override it. [Run] executes one
// Config and returns a [Result] with throughput, an HDR latency histogram
// summary and a per-second timeline, which [Result.WriteText],
// [Result.WriteJSON] and [WriteSVG] render.
//
// Latency means:
//   - produce: the time from the Produce call to the broker's acknowledgement;
//   - e2e: the consume time minus the send time, which the producer writes as
//     Unix nanoseconds into the first 8 bytes of every value (record size >= 8;
//     smaller records fall back to the record's millisecond timestamp);
//   - consume with --raw-fetch: the round trip of each Fetch request.
//
// Goroutines: Run owns every goroutine it starts (producers, consumers, the
// progress ticker, idle connections) and joins them before it returns.
package bench
