// Package network serves the Kafka protocol over TCP: it accepts connections,
// reads size-prefixed request frames (internal/wire), checks the API key and
// version against the dispatch table (internal/handler), decodes the body
// with kmsg, hands it to a Handler and writes the responses back strictly in
// request order, as Kafka's SocketServer does.
//
// Goroutines: Run owns the accept loop and one pair of goroutines per
// connection — a reader that frames and decodes requests, and a worker that
// serves them one at a time and writes each response before taking the next.
// Requests of one connection are served in order (an idempotent producer's
// pipelined batches must be appended in the order sent); the reader reads
// ahead at most Config.MaxInFlight requests and then stops reading, which
// mutes the connection like Kafka's queued.max.requests.
//
// Bad input (RELIABILITY.md, framing table) never panics: a frame of size ≤ 0
// or above socket.request.max.bytes, a truncated frame, an unknown API key or
// version, a malformed header or body — the connection is logged once with
// the peer address and closed, and the broker keeps serving everyone else.
// An ApiVersions request at a version newer than supported gets Kafka's v0
// answer with UNSUPPORTED_VERSION instead (KIP-511).
//
// Package network imports wire and handler and nothing that stores data.
package network
