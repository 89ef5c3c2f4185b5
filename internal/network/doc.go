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
// Memory: besides the per-connection read-ahead, a broker-wide budget
// (Config.MaxQueuedBytes, Kafka's queued.max.request.bytes) bounds the bytes
// of requests read but not yet answered; a reader whose next frame does not
// fit waits before reading it, which mutes that connection (mem.go).
//
// Fetch responses may leave record bytes in segment files
// (handler.FileResponse): they are sent with sendfile(2) at explicit offsets
// around bytes kmsg encodes (zerocopy.go, docs/adr/0004-zero-copy-fetch.md).
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
