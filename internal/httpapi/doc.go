// Package httpapi is the broker's admin HTTP listener: /healthz,
// /debug/pprof (net/http/pprof, for `go tool pprof`) and /metrics
// (Prometheus text format: the Go runtime and process collectors, and what
// the broker registers: RequestMetrics, per Kafka API, and LogCollector,
// each partition's offsets).
//
// It is off unless admin.listener is set (e.g. 127.0.0.1:9644, the port
// Redpanda's admin API uses). It has no authentication: bind it to
// loopback or a management network only, because profiles and metrics
// reveal topic names and load.
//
// Package httpapi imports nothing else from Kavka; internal/server wires it.
package httpapi
