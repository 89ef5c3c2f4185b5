// Package purgatory holds delayed operations: requests that cannot be
// answered yet — a long-poll Fetch waiting for MinBytes, later an acks=all
// Produce waiting for replication — keyed by what would complete them (a
// partition). Like Kafka's DelayedOperationPurgatory, an operation is tried,
// watched on its keys, woken and retried when a key is notified (an append),
// and expired when its timeout passes.
//
// Unlike Kafka's, an operation here is the caller's goroutine itself (the
// connection's worker is blocked on it anyway), so the purgatory keeps no
// goroutines and no timer wheel: a Watcher is a one-slot wake-up channel
// registered under keys, and Await runs the try/wait/retry loop with a timer
// that is always stopped. Nothing leaks when a caller gives up.
//
// Package purgatory imports nothing from Kavka.
package purgatory
