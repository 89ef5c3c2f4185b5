// Package wire frames Kafka protocol messages: size-prefixed frames, request
// headers v1/v2 (v2 adds tagged fields for flexible versions, KIP-482) and
// response headers v0/v1. Request and response bodies are encoded and decoded
// by franz-go's kmsg and nothing here hand-encodes a body
// (docs/adr/0001-kmsg-wire-layer.md).
//
// Every length read from the network is checked against the bytes present
// before anything is allocated (KAFKA-14063, KAFKA-2878).
//
// Package wire imports nothing from Kavka.
package wire
