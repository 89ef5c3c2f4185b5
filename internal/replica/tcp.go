package replica

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TCPTransport sends follower fetches over the Kafka protocol, one
// connection per source broker, reconnecting after any error. Safe for
// concurrent use (a fetcher is the only user of its connection).
type TCPTransport struct {
	// Addr returns a broker's host:port, from the metadata image.
	Addr func(broker int32) (string, bool)
	// MaxResponseBytes bounds a response frame. Default 64 MiB + slack.
	MaxResponseBytes int32

	fmt *kmsg.RequestFormatter

	mu    sync.Mutex
	conns map[int32]*tcpConn // guarded by mu
}

type tcpConn struct {
	mu   sync.Mutex
	addr string
	c    net.Conn // guarded by mu
	corr int32    // guarded by mu
	buf  []byte   // guarded by mu: the encoded request
}

// NewTCPTransport returns a transport dialing brokers at addr(id).
func NewTCPTransport(clientID string, addr func(broker int32) (string, bool)) *TCPTransport {
	return &TCPTransport{Addr: addr, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), conns: map[int32]*tcpConn{}}
}

// Fetch implements Transport.
func (t *TCPTransport) Fetch(ctx context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	addr, ok := t.Addr(broker)
	if !ok {
		return nil, fmt.Errorf("broker %d has no address", broker)
	}
	t.mu.Lock()
	c := t.conns[broker]
	if c == nil || c.addr != addr {
		if c != nil {
			c.close()
		}
		c = &tcpConn{addr: addr}
		t.conns[broker] = c
	}
	t.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(req.GetVersion())
	max := t.MaxResponseBytes
	if max <= 0 {
		max = 64<<20 + 1<<20
	}
	timeout := time.Duration(req.MaxWaitMillis)*time.Millisecond + 10*time.Second
	if err := c.roundTrip(ctx, t.fmt, req, resp, timeout, max); err != nil {
		return nil, err
	}
	return resp, nil
}

// Close closes every connection.
func (t *TCPTransport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.conns {
		c.close()
		delete(t.conns, id)
	}
}

func (c *tcpConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func (c *tcpConn) roundTrip(ctx context.Context, f *kmsg.RequestFormatter, req kmsg.Request, resp kmsg.Response, timeout time.Duration, maxBytes int32) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.c, err = d.DialContext(dctx, "tcp", c.addr)
		cancel()
		if err != nil {
			c.c = nil
			return fmt.Errorf("dial %s: %w", c.addr, err)
		}
	}
	defer func() {
		if err != nil && c.c != nil {
			c.c.Close()
			c.c = nil
		}
	}()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Now()) })
	defer stop()
	c.corr++
	c.buf = f.AppendRequest(c.buf[:0], req, c.corr)
	if _, err := c.c.Write(c.buf); err != nil {
		return fmt.Errorf("write to %s: %w", c.addr, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.c, size[:]); err != nil {
		return fmt.Errorf("read from %s: %w", c.addr, err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxBytes {
		return fmt.Errorf("response from %s: frame size %d", c.addr, n)
	}
	// The response keeps sub-slices of the frame (record batches), so the
	// frame is read into a buffer of its own rather than c.buf, and decoded
	// in place (no copy of the batches).
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		return fmt.Errorf("read from %s: %w", c.addr, err)
	}
	if corr := int32(binary.BigEndian.Uint32(b)); corr != c.corr {
		return fmt.Errorf("response from %s: correlation id %d, want %d", c.addr, corr, c.corr)
	}
	b = b[4:]
	if resp.IsFlexible() {
		// Response header v1: tagged fields; none are defined, skip them.
		if len(b) < 1 || b[0] != 0 {
			return fmt.Errorf("response from %s: unexpected header tags", c.addr)
		}
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		return fmt.Errorf("decode response from %s: %w", c.addr, err)
	}
	return nil
}
