// Package server is the broker process: configuration → metadata store →
// partition logs (loaded with their topic configs, recovered if the last
// stop was not clean) → handlers → listener, then Run until the context
// ends and a graceful stop: stop accepting, finish in-flight requests, close
// the logs (writing the clean-shutdown marker, so the next start skips
// recovery) and the metadata store.
//
// The server keeps the partition logs in step with the metadata image: it
// creates the logs of new topics and partitions (many at once with
// commitlog.Manager.CreateMany), removes those of deleted topics, applies
// topic config changes, then gives each local replica its state. On a
// single node the metadata subscriber does it; in cluster mode the
// subscriber only hands the newest image to runSync, so that creating
// thousands of logs never holds up the raft apply path (the controller's
// answers and every other metadata change): the image is published at
// once, its logs follow, a thousand per round.
//
// Package server imports the subsystems; nothing imports it but cmd/kavka
// and tests.
package server
