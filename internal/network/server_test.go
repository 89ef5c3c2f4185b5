package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	addr string
	logs *syncBuffer
	stop func()
}

// start runs a Server on 127.0.0.1:0 until the test ends.
func start(t testing.TB, h Handler, cfg Config) *testServer {
	t.Helper()
	if h == nil {
		h = handler.New(handler.Deps{})
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := Listen("127.0.0.1:0", h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{addr: s.Addr().String(), logs: logs, stop: stop}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// appendRequest appends a whole request frame for req.
func appendRequest(dst []byte, corr int32, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = binary.BigEndian.AppendUint16(dst, 4)
	dst = append(dst, "test"...)
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func apiVersionsRequest(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "kavka-test", "1.0"
	return req
}

// readResponse reads one response frame and decodes it as resp (whose
// version must be set); it returns the correlation id.
func readResponse(t testing.TB, c net.Conn, resp kmsg.Response) int32 {
	t.Helper()
	frame, err := wire.ReadFrame(c, 1<<30, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		body = body[1:] // empty tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %T: %v", resp, err)
	}
	return corr
}

// checkServes checks that a fresh client can still do ApiVersions.
func checkServes(t testing.TB, addr string) {
	t.Helper()
	c := dial(t, addr)
	if _, err := c.Write(appendRequest(nil, 7, apiVersionsRequest(3))); err != nil {
		t.Fatalf("write ApiVersions: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if corr := readResponse(t, c, resp); corr != 7 || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: corr %d error %d keys %d", corr, resp.ErrorCode, len(resp.ApiKeys))
	}
}

// expectClosed checks that the broker closes c without sending anything.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("want close, got %v after %d bytes", err, n)
	}
	if n != 0 {
		t.Fatalf("want close without a response, got %d bytes", n)
	}
}

func TestApiVersionsAndPipelining(t *testing.T) {
	s := start(t, nil, Config{})
	c := dial(t, s.addr)
	var buf []byte
	const n = 50 // more than MaxInFlight, so the mute is exercised
	for i := range n {
		buf = appendRequest(buf, int32(1000+i), apiVersionsRequest(int16(i%4)))
	}
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(int16(i % 4))
		if corr := readResponse(t, c, resp); corr != int32(1000+i) {
			t.Fatalf("response %d: correlation id %d, want %d", i, corr, 1000+i)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("response %d: error %d", i, resp.ErrorCode)
		}
	}
}

// TestBadInput is RELIABILITY.md's framing table: every input gets Kafka's
// answer or a closed connection, one log line with the peer, and the next
// client is served.
func TestBadInput(t *testing.T) {
	s := start(t, nil, Config{MaxRequestSize: 1 << 20})
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	header := func(key, version int16, corr int32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	}
	f := func(name string, input []byte, closeWrite bool, wantLog string) {
		t.Helper()
		before := strings.Count(s.logs.String(), "peer=")
		c := dial(t, s.addr)
		if _, err := c.Write(input); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		if closeWrite {
			c.(*net.TCPConn).CloseWrite()
		}
		expectClosed(t, c)
		checkServes(t, s.addr)
		logs := s.logs.String()
		if wantLog != "" && !strings.Contains(logs, wantLog) {
			t.Errorf("%s: logs lack %q:\n%s", name, wantLog, logs)
		}
		if wantLog != "" && strings.Count(logs, "peer=") != before+1 {
			t.Errorf("%s: want exactly one log line with the peer, logs:\n%s", name, logs)
		}
	}
	f("size zero", []byte{0, 0, 0, 0}, false, "bad frame")
	f("size negative", []byte{0xff, 0xff, 0xff, 0xfe}, false, "bad frame")
	f("size above max", binary.BigEndian.AppendUint32(nil, 1<<20+1), false, "bad frame")
	f("size 2 GiB", []byte{0x7f, 0xff, 0xff, 0xff}, false, "bad frame")
	f("truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), 1, 2, 3), true, "read failed")
	f("short header", frame([]byte{0, 18, 0}), false, "bad request header")
	f("unknown api key", frame(header(999, 0, 1)), false, "unsupported api key")
	f("unsupported version", frame(header(3, 99, 1)), false, "unsupported api key")
	f("unimplemented api", frame(header(57, 0, 1)), false, "unsupported api key")
	f("client id overruns", frame(append(header(18, 0, 1)[:8], 0x7f, 0xff)), false, "bad request header")
	f("client id below -1", frame(append(header(18, 0, 1)[:8], 0xff, 0xf0)), false, "bad request header")
	f("garbage body", frame(append(header(18, 3, 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), false, "malformed request")
	f("http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "bad frame")
	f("tls client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, false, "bad frame")
	f("client leaves between requests", nil, true, "")
}

// TestApiVersionsTooNew: a v0 response with UNSUPPORTED_VERSION and key
// 18's range; the connection stays open for the retry.
func TestApiVersionsTooNew(t *testing.T) {
	s := start(t, nil, Config{})
	c := dial(t, s.addr)
	req := apiVersionsRequest(3)
	buf := appendRequest(nil, 42, req)
	binary.BigEndian.PutUint16(buf[6:], 200) // version 200
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if corr := readResponse(t, c, resp); corr != 42 {
		t.Fatalf("correlation id %d, want 42", corr)
	}
	if resp.ErrorCode != 35 || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 {
		t.Fatalf("got error %d keys %+v, want 35 and only key 18", resp.ErrorCode, resp.ApiKeys)
	}
	// The retry on the same connection works.
	maxV := resp.ApiKeys[0].MaxVersion
	if _, err := c.Write(appendRequest(nil, 43, apiVersionsRequest(maxV))); err != nil {
		t.Fatal(err)
	}
	resp = kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(maxV)
	if corr := readResponse(t, c, resp); corr != 43 || resp.ErrorCode != 0 {
		t.Fatalf("retry: corr %d error %d", corr, resp.ErrorCode)
	}
}

func TestIdleAndSlowClients(t *testing.T) {
	s := start(t, nil, Config{IdleTimeout: 200 * time.Millisecond})
	f := func(name string, input []byte) {
		t.Helper()
		c := dial(t, s.addr)
		c.Write(input)
		start := time.Now()
		expectClosed(t, c)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: closed after %v", name, d)
		}
		checkServes(t, s.addr)
	}
	f("idle", nil)
	f("stalls inside a frame", []byte{0, 0, 0, 50, 0, 18})
	if !strings.Contains(s.logs.String(), "idle") {
		t.Errorf("no idle log:\n%s", s.logs.String())
	}
}

// slowHandler blocks each request until release is closed or ctx is done.
type slowHandler struct {
	inner   Handler
	release chan struct{}
	started chan struct{}
}

func (h *slowHandler) Handle(ctx context.Context, rc *handler.RequestContext, req kmsg.Request) kmsg.Response {
	select {
	case h.started <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return h.inner.Handle(ctx, rc, req)
}

// TestBusyConnectionIsNotIdle: a request that takes longer than the idle
// timeout does not get its connection closed.
func TestBusyConnectionIsNotIdle(t *testing.T) {
	h := &slowHandler{inner: handler.New(handler.Deps{}), release: make(chan struct{}), started: make(chan struct{}, 1)}
	s := start(t, h, Config{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, s.addr)
	c.Write(appendRequest(nil, 5, apiVersionsRequest(3)))
	<-h.started
	time.Sleep(400 * time.Millisecond)
	close(h.release)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if corr := readResponse(t, c, resp); corr != 5 {
		t.Fatalf("corr %d", corr)
	}
}

// TestGracefulStop: stopping finishes the request in flight (its handler
// sees a canceled context) and closes the connection.
func TestGracefulStop(t *testing.T) {
	h := &slowHandler{inner: handler.New(handler.Deps{}), release: make(chan struct{}), started: make(chan struct{}, 1)}
	s := start(t, h, Config{})
	c := dial(t, s.addr)
	c.Write(appendRequest(nil, 9, apiVersionsRequest(3)))
	<-h.started
	s.stop()
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if corr := readResponse(t, c, resp); corr != 9 {
		t.Fatalf("corr %d", corr)
	}
	expectClosed(t, c)
	if _, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		t.Errorf("dial after stop succeeded")
	}
}

func TestMaxConnections(t *testing.T) {
	s := start(t, nil, Config{MaxConnections: 2})
	a, b := dial(t, s.addr), dial(t, s.addr)
	for _, c := range []net.Conn{a, b} { // make sure both are registered
		c.Write(appendRequest(nil, 1, apiVersionsRequest(0)))
		resp := kmsg.NewPtrApiVersionsResponse()
		readResponse(t, c, resp)
	}
	expectClosed(t, dial(t, s.addr))
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for { // bounded: the server notices a's close quickly
		c := dial(t, s.addr)
		c.Write(appendRequest(nil, 1, apiVersionsRequest(0)))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := wire.ReadFrame(c, 1<<20, nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not freed after a connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "max.connections") {
		t.Errorf("no log for the refused connection")
	}
}
