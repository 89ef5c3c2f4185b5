// Package wire frames Kafka protocol messages: size-prefixed frames, request
// headers v1/v2 (v2 adds tagged fields for flexible versions, KIP-482) and
// response headers v0/v1. Request and response bodies are encoded and decoded
// by franz-go's kmsg and nothing here hand-encodes a body
// (docs/adr/0001-kmsg-wire-layer.md).
//
// Every length read from the network is checked against the bytes present
// before anything is allocated (KAFKA-14063, KAFKA-2878): kmsg checks an
// array count times the element's minimum wire size against the bytes left,
// and string and bytes lengths against the bytes left. What decoding one
// frame allocates is therefore bounded by a multiple of the frame: about 30×
// for arrays of minimal elements, about 90× when each element also carries an
// unknown tag (kmsg keeps them in a map); FuzzDecodeRequest and
// TestDecodeAllocWorstCases hold it under 128× plus a constant.
//
// Strict decoding. A request body must be the canonical encoding of the
// request it decodes to: DecodeRequest re-encodes what kmsg decoded and
// compares (canonical). kmsg alone is lenient where Kafka's parser is not,
// and the comparison turns each such input into ErrBody, which closes the
// connection as Kafka does for a request it cannot parse:
//   - a negative count (-1 or below) for a non-nullable array, or null for
//     non-nullable bytes (Kafka: "non-nullable field … was serialized as null");
//   - tagged fields out of ascending order, duplicated, or repeating a known
//     field's default (Kafka's own encoders never write them so);
//   - non-minimal varints;
//   - trailing bytes after the body (RELIABILITY.md row 17). Kafka's parser
//     reads the fields it expects and does not look at what is left
//     (unverified); Kavka rejects them instead, because bytes left over
//     mean the client and broker disagree about the layout — typically a
//     body encoded for another version — and answering such a request
//     would answer a question the client did not ask.
//
// Unknown tags in ascending order are kept by kmsg and re-encode unchanged,
// so they are skipped by their declared size as KIP-482 requires. Strings
// are not checked for valid UTF-8 here (Kafka's parser replaces invalid
// sequences and does not fail); names that matter are validated where they
// are used (topic names: INVALID_TOPIC_EXCEPTION). The check costs one
// encode of the request into a pooled buffer. Produce is the exception in
// cost and strength: its records are not re-encoded, only the length they
// add is checked (canonicalProduce), so a -1 count for its topics or
// partitions passes as an empty array (answered with an empty response).
//
// Package wire imports nothing from Kavka.
package wire
