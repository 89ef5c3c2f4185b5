// Package peers is a separate module holding the programs that drive the
// systems Kavka is compared with in bench/compare.sh: NATS JetStream (file
// storage) and Redis Streams. Their clients stay out of Kavka's own go.mod.
//
// cmd/peerbench writes the same number of same-sized records as
// `kavka bench produce` and prints one RESULT line; tools.go pins
// nats-server so compare.sh can build it from the Go module proxy.
package peers
