package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/wire"
)

// conn is one client connection. The reader goroutine (serve) frames and
// decodes requests and queues them; the worker goroutine serves them in
// order and writes the responses. Nothing else touches the socket except
// shutdown, which only moves the read deadline, and Server.stop, which may
// close it.
type conn struct {
	s    *Server
	nc   net.Conn
	peer string

	// queue carries decoded requests from reader to worker. Its capacity is
	// MaxInFlight: when full, the reader blocks and stops reading the socket
	// (the connection is muted) until the worker takes one.
	queue chan *pending

	// raw is the socket for sendfile, nil when the connection is not a
	// plain TCP socket or zero-copy is off.
	raw     syscall.RawConn
	sp      splicer // the worker's zero-copy encoder
	copyBuf []byte  // the worker's buffer for region bytes copied into a response

	ctx          context.Context    // the handlers' context
	cancel       context.CancelFunc // cancels ctx
	stopping     atomic.Bool
	lastActivity atomic.Int64 // unix nanoseconds of the last frame read or response written
	busy         atomic.Int32 // requests read but not yet answered
}

// pending is one request on its way from reader to worker.
type pending struct {
	size int64 // frame bytes held in the server's memPool until answered
	hdr  wire.RequestHeader
	req  kmsg.Request  // nil when resp is set
	resp kmsg.Response // an answer decided by the reader (ApiVersions too new)
}

func newConn(ctx context.Context, s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{
		s:      s,
		nc:     nc,
		peer:   nc.RemoteAddr().String(),
		queue:  make(chan *pending, s.cfg.MaxInFlight),
		ctx:    ctx,
		cancel: cancel,
	}
	if tc, ok := nc.(*net.TCPConn); ok && s.cfg.SendfileMinBytes >= 0 {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c
}

// shutdown asks the connection to stop reading and finish what it has read.
// The handlers' context is canceled so that long-polls answer now.
// Safe to call from any goroutine, more than once.
func (c *conn) shutdown() {
	c.stopping.Store(true)
	c.cancel()
	c.nc.SetReadDeadline(time.Now()) // unblocks the reader
}

// serve runs the connection until the client leaves, sends bad input, the
// connection idles out or the server stops. It returns once both goroutines
// are done and the socket is closed.
func (c *conn) serve() {
	defer c.cancel()
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c.touch()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.work(c.ctx)
	}()
	c.read()
	close(c.queue)
	wg.Wait()
	c.nc.Close()
}

func (c *conn) touch() { c.lastActivity.Store(time.Now().UnixNano()) }

// read is the reader loop. It returns on the first error; the error is
// logged here, once, unless it is an ordinary disconnect.
func (c *conn) read() {
	cfg := &c.s.cfg
	br := bufio.NewReaderSize(c.nc, 16<<10)
	cr := &countingReader{r: br}
	for !c.stopping.Load() {
		// Connection deadlines are wall-clock by nature (net.Conn), so they
		// use time.Now rather than the injected clock.
		c.nc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		cr.n = 0
		// Take the frame's bytes from the broker-wide budget before reading
		// it; while they do not fit, this connection is not read (muted).
		// A bad size is left for ReadFrame to report.
		var held int64
		if b, err := br.Peek(4); err == nil {
			if n := int32(binary.BigEndian.Uint32(b)); n > 0 && n <= cfg.MaxRequestSize {
				// Check the API key and version before reading (and
				// allocating) the rest of the frame (KAFKA-5062).
				if n >= 8 {
					if h, err := br.Peek(12); err == nil && c.refuse(int16(binary.BigEndian.Uint16(h[4:])), int16(binary.BigEndian.Uint16(h[6:]))) {
						return
					}
				}
				if !c.s.mem.acquire(int64(n), c.ctx.Done()) {
					return
				}
				held = int64(n)
			}
		}
		frame, err := wire.ReadFrame(cr, cfg.MaxRequestSize, nil)
		if err != nil {
			c.s.mem.release(held)
			if c.stopping.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && cr.n == 0 {
				idle := time.Since(time.Unix(0, c.lastActivity.Load()))
				if c.busy.Load() > 0 || idle < cfg.IdleTimeout {
					continue // a long request is running: not idle
				}
				c.log("connection idle; closing", err, "idle_ms", idle.Milliseconds())
				return
			}
			switch {
			case errors.Is(err, io.EOF) && cr.n == 0, isReset(err):
				// The client went away between requests.
			case errors.Is(err, wire.ErrFrameSize), errors.Is(err, wire.ErrFrameTooLarge):
				c.log("bad frame; closing", err)
			default:
				c.log("read failed; closing", err, "frame_bytes_read", cr.n)
			}
			return
		}
		c.touch()
		p, ok := c.decode(frame)
		if !ok {
			c.s.mem.release(held)
			return
		}
		p.size = held
		c.busy.Add(1)
		c.queue <- p // blocks when MaxInFlight requests wait: the mute
	}
}

// decode parses the header and body of one frame. ok is false when the
// connection must close; decode has logged why.
func (c *conn) decode(frame []byte) (p *pending, ok bool) {
	// The key and version come first: check them before parsing the rest
	// of the header, whose layout depends on them.
	if len(frame) >= 8 {
		key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
		if key == 18 && !handler.Supported(key, version) {
			// ApiVersions newer than ours: answer so the client retries lower.
			hdr := wire.RequestHeader{APIKey: key, APIVersion: version, CorrelationID: int32(binary.BigEndian.Uint32(frame[4:]))}
			return &pending{hdr: hdr, resp: handler.UnsupportedAPIVersions()}, true
		}
		if c.refuse(key, version) {
			return nil, false
		}
	}
	hdr, body, err := wire.ParseHeader(frame)
	if err != nil {
		c.log("bad request header; closing", err, "api_key", hdr.APIKey, "api_version", hdr.APIVersion)
		return nil, false
	}
	req, err := wire.DecodeRequest(hdr, body)
	if err != nil {
		c.log("malformed request; closing", err, "api_key", hdr.APIKey, "api_version", hdr.APIVersion)
		return nil, false
	}
	return &pending{hdr: hdr, req: req}, true
}

// refuse reports whether a request with this key and version must close the
// connection, and logs why when it does. ApiVersions is never refused: one
// newer than ours gets an answer (decode).
func (c *conn) refuse(key, version int16) bool {
	if key == 18 || handler.Supported(key, version) {
		return false
	}
	c.log("unsupported api key or version; closing", nil,
		"api_key", key, "api", kmsg.NameForKey(key), "api_version", version)
	return true
}

// work is the worker loop: it serves queued requests in order and writes
// their responses. After a write error it keeps draining the queue without
// serving, so that the reader never blocks on a full queue.
func (c *conn) work(ctx context.Context) {
	var buf []byte
	broken := false
	for p := range c.queue {
		if broken {
			c.busy.Add(-1)
			c.s.mem.release(p.size)
			continue
		}
		var t0 time.Time
		if c.s.cfg.Observe != nil {
			t0 = time.Now()
		}
		resp, closeAfter := c.serveOne(ctx, p)
		if resp != nil {
			var err error
			if buf, err = c.write(buf, p.hdr.CorrelationID, resp); err != nil {
				if !isReset(err) {
					c.log("write failed; closing", err)
				}
				broken = true
			}
			c.touch()
			// Do not pin a large buffer for the life of the connection:
			// large ones go back to the shared pools.
			if cap(buf) > minPooled {
				putBuf(buf)
				buf = nil
			}
			if cap(c.copyBuf) > minPooled {
				putBuf(c.copyBuf)
				c.copyBuf = nil
			}
		}
		if c.s.cfg.Observe != nil {
			c.s.cfg.Observe(p.hdr.APIKey, time.Since(t0), p.size)
		}
		c.busy.Add(-1)
		c.s.mem.release(p.size)
		if closeAfter && !broken {
			if resp != nil || p.hdr.APIKey == 0 {
				c.log("acks=0 produce failed; closing so the producer notices", nil, "api_key", p.hdr.APIKey)
			}
			broken = true
		}
		if broken {
			// Make the reader return: it may be blocked reading, or
			// waiting for request memory (ctx).
			c.stopping.Store(true)
			c.nc.SetReadDeadline(time.Now())
			c.cancel()
		}
	}
}

// write writes one response, encoding it into buf (scratch, returned
// possibly grown).
func (c *conn) write(buf []byte, corr int32, resp kmsg.Response) ([]byte, error) {
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if fr, ok := resp.(handler.FileResponse); ok {
		return c.writeFileResponse(buf, corr, fr)
	}
	buf = wire.AppendResponse(buf[:0], corr, resp)
	_, err := c.nc.Write(buf)
	return buf, err
}

// serveOne serves one request. It returns the response to write (nil for
// acks=0 produce) and whether to close the connection afterwards: Kafka
// closes the connection when an acks=0 produce fails, since the producer
// sees no response.
func (c *conn) serveOne(ctx context.Context, p *pending) (resp kmsg.Response, closeAfter bool) {
	if p.resp != nil {
		return p.resp, false
	}
	// A panic in a handler is a bug; it must cost one connection, not the
	// broker. The stack is logged so that the bug gets fixed.
	defer func() {
		if r := recover(); r != nil {
			c.s.cfg.Logger.Error("BUG: handler panicked; closing the connection", "peer", c.peer,
				"api_key", p.hdr.APIKey, "api_version", p.hdr.APIVersion, "panic", r, "stack", string(debug.Stack()))
			resp, closeAfter = nil, true
		}
	}()
	rc := &handler.RequestContext{Header: p.hdr, Peer: c.peer, FileRegions: c.raw != nil}
	resp = c.s.h.Handle(ctx, rc, p.req)
	if pr, ok := p.req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 {
		return nil, produceFailed(resp)
	}
	return resp, false
}

func produceFailed(resp kmsg.Response) bool {
	pr, ok := resp.(*kmsg.ProduceResponse)
	if !ok {
		return true
	}
	for _, t := range pr.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}

// log writes one line about this connection. Each connection logs at most
// one such line, because every caller closes the connection after it.
func (c *conn) log(msg string, err error, attrs ...any) {
	attrs = append([]any{"peer", c.peer}, attrs...)
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	c.s.cfg.Logger.Info(msg, attrs...)
}

// countingReader counts the bytes read through it, so that the reader can
// tell an idle timeout between frames from a client stalled inside one.
type countingReader struct {
	r io.Reader
	n int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += n
	return n, err
}

// isReset reports whether err is an ordinary disconnect by the peer or by us.
func isReset(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, errConnReset) || errors.Is(err, errBrokenPipe)
}

var (
	errConnReset  error = syscall.ECONNRESET
	errBrokenPipe error = syscall.EPIPE
)
