package badinput

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/server"
	"github.com/kavka-io/kavka/internal/wire"
)

const (
	ioTimeout   = 10 * time.Second
	idleTimeout = 1500 * time.Millisecond // connections.max.idle.ms of the test broker
	clientID    = "badinput"
)

// broker is an in-process broker with its log lines recorded.
type broker struct {
	addr string
	logs *logRecorder

	mu    sync.Mutex
	peers []string // local addresses of the connections a case opened
	shut  []string // of those, the ones the broker closed: exactly one log line each
}

func startBroker(t testing.TB, sets ...string) *broker {
	t.Helper()
	cfg := config.Defaults()
	must(t, cfg.Set("log.dirs", t.TempDir()))
	must(t, cfg.Set("listeners", "127.0.0.1:0"))
	must(t, cfg.Set("connections.max.idle.ms", fmt.Sprint(idleTimeout.Milliseconds())))
	for i := 0; i+1 < len(sets); i += 2 {
		must(t, cfg.Set(sets[i], sets[i+1]))
	}
	logs := &logRecorder{}
	r, err := server.Start(&cfg, server.Options{Logger: slog.New(logs)})
	must(t, err)
	t.Cleanup(func() {
		if err := r.Stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &broker{addr: r.Addr().String(), logs: logs}
}

// dial opens a raw connection and remembers its address for the log checks.
func (b *broker) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.addr, ioTimeout)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(3 * ioTimeout))
	b.mu.Lock()
	b.peers = append(b.peers, c.LocalAddr().String())
	b.mu.Unlock()
	return c
}

// begin forgets the connections of the previous case.
func (b *broker) begin() {
	b.mu.Lock()
	b.peers, b.shut = nil, nil
	b.mu.Unlock()
}

// check is run after every case: no BUG was logged, every connection of the
// case got at most one log line with its peer address (exactly one if the
// broker closed it), and a fresh client is served.
func (b *broker) check(t *testing.T) {
	t.Helper()
	if bug := b.logs.find("BUG"); bug != "" {
		t.Errorf("broker logged a bug: %s", bug)
	}
	b.mu.Lock()
	peers, shut := b.peers, b.shut
	b.mu.Unlock()
	for _, p := range peers {
		n := b.logs.countPeer(p)
		want := "at most 1"
		bad := n > 1
		if contains(shut, p) {
			want, bad = "exactly 1", n != 1
		}
		if bad {
			t.Errorf("peer %s: %d log lines, want %s:\n%s", p, n, want, b.logs.linesFor(p))
		}
	}
	checkServes(t, b.addr)
}

// checkServes: a fresh client's ApiVersions v3 succeeds.
func checkServes(t testing.TB, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	_, err = c.Write(frame(7, apiVersions(3)))
	must(t, err)
	resp := readResponse(t, c, apiVersions(3)).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) < 10 {
		t.Fatalf("fresh client: ApiVersions error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// expectClosed waits (bounded) until the broker closes c without sending
// anything more, and marks c as closed by the broker.
func (b *broker) expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	n, err := io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("connection still open after %v (read %d bytes)", within, n)
	case n != 0:
		t.Fatalf("got %d bytes of response, want the connection closed", n)
	}
	b.mu.Lock()
	b.shut = append(b.shut, c.LocalAddr().String())
	b.mu.Unlock()
	// The log line is written before the close; give the logger a moment
	// only if it raced (it should not).
	for i := 0; i < 50 && b.logs.countPeer(c.LocalAddr().String()) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// sendExpectClose sends raw bytes on a new connection and expects a close.
func (b *broker) sendExpectClose(t testing.TB, raw []byte) {
	t.Helper()
	c := b.dial(t)
	_, err := c.Write(raw)
	must(t, err)
	b.expectClosed(t, c, ioTimeout)
}

// roundTrip sends req on a new connection and returns the response.
func (b *broker) roundTrip(t testing.TB, req kmsg.Request) kmsg.Response {
	t.Helper()
	return b.roundTripRaw(t, req, frame(1, req))
}

// roundTripRaw sends raw (a frame for req's key and version) and decodes the
// response as req's.
func (b *broker) roundTripRaw(t testing.TB, req kmsg.Request, raw []byte) kmsg.Response {
	t.Helper()
	c := b.dial(t)
	_, err := c.Write(raw)
	must(t, err)
	return readResponse(t, c, req)
}

// header encodes a request header for req: v2 (with an empty tag section)
// when req's version is flexible, else v1.
func header(req kmsg.Request, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return b
}

// frame is a whole request frame for req, the body encoded by kmsg.
func frame(corr int32, req kmsg.Request) []byte {
	return frameBody(corr, req, req.AppendTo(nil))
}

// frameBody frames body (usually req's kmsg encoding, corrupted) with req's header.
func frameBody(corr int32, req kmsg.Request, body []byte) []byte {
	h := header(req, corr)
	out := binary.BigEndian.AppendUint32(nil, uint32(len(h)+len(body)))
	return append(append(out, h...), body...)
}

// readResponse reads one response frame and decodes it as req's response.
func readResponse(t testing.TB, c net.Conn, req kmsg.Request) kmsg.Response {
	t.Helper()
	fr, err := wire.ReadFrame(c, 64<<20, nil)
	if err != nil {
		t.Fatalf("read %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body := fr[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // response header v1: empty tag section
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// allocated returns how many bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// logRecorder is a slog.Handler keeping every line as "msg k=v …".
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		sb.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, sb.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) countPeer(peer string) int { return len(l.matching(" peer=" + peer)) }
func (l *logRecorder) linesFor(peer string) string {
	return strings.Join(l.matching(" peer="+peer), "\n")
}

func (l *logRecorder) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s+" ", sub+" ") {
			out = append(out, s)
		}
	}
	return out
}

func (l *logRecorder) find(prefix string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			return s
		}
	}
	return ""
}

// lastFor returns the last log line for peer, for messages in failures.
func (l *logRecorder) lastFor(peer string) string {
	m := l.matching(" peer=" + peer)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Requests used by many rows.

func apiVersions(v int16) *kmsg.ApiVersionsRequest {
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(v)
	r.ClientSoftwareName, r.ClientSoftwareVersion = "kavka-badinput", "1.0"
	return r
}

func metadata(v int16, topics ...string) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(v)
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		r.Topics = append(r.Topics, rt)
	}
	return r
}

const produceVersion = 9

func produce(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.SetVersion(produceVersion)
	r.Acks, r.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// produceCode produces records and returns the partition's error code.
func (b *broker) produceCode(t testing.TB, req *kmsg.ProduceRequest) int16 {
	t.Helper()
	resp := b.roundTrip(t, req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// batch builds a valid uncompressed batch of n records with keys and values.
func batch(t testing.TB, opts record.BuilderOptions, n int) []byte {
	t.Helper()
	if opts.BaseTimestamp == 0 {
		opts.BaseTimestamp = time.Now().UnixMilli()
	}
	if opts.ProducerID == 0 && opts.BaseSequence == 0 {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = -1, -1, -1
	}
	bd := record.NewBuilder(opts)
	for i := range n {
		bd.Add(record.Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")})
	}
	out, err := bd.Build(nil)
	must(t, err)
	return out
}

// Record batch v2 header offsets (Kafka's DefaultRecordBatch).
const (
	offBatchLength     = 8
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offProducerID      = 43
	offBaseSequence    = 53
	offRecordCount     = 57
	offRecords         = 61
)

// reseal fixes the batch length and CRC32C after an edit.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[offCRC:], record.Checksum(b))
	return b
}

// edit returns a copy of b changed by f and resealed.
func edit(b []byte, f func(b []byte) []byte) []byte {
	return reseal(f(append([]byte(nil), b...)))
}

// uvarint appends v as an unsigned varint.
func uvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// splice replaces b[at:at+n] with repl.
func splice(b []byte, at, n int, repl []byte) []byte {
	out := append([]byte(nil), b[:at]...)
	out = append(out, repl...)
	return append(out, b[at+n:]...)
}
