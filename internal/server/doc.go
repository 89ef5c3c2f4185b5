// Package server is the broker process: configuration → metadata store →
// partition logs (loaded with their topic configs, recovered if the last
// stop was not clean) → handlers → listener, then Run until the context
// ends and a graceful stop: stop accepting, finish in-flight requests, close
// the logs (writing the clean-shutdown marker, so the next start skips
// recovery) and the metadata store.
//
// The server keeps the partition logs in step with the metadata image: a
// subscriber creates the logs of new topics and partitions, removes those of
// deleted topics and applies topic config changes.
//
// Package server imports the subsystems; nothing imports it but cmd/kavka
// and tests.
package server
