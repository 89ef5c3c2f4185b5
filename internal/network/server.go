package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/handler"
)

// Handler serves one decoded request. *handler.Handlers implements it.
//
// Handle is called from the connection's worker goroutine, one request at a
// time per connection. ctx is canceled when the server stops: a long-poll
// should then answer with what it has.
type Handler interface {
	Handle(ctx context.Context, rc *handler.RequestContext, req kmsg.Request) kmsg.Response
}

// Config configures a Server. Zero fields take Kafka's defaults.
type Config struct {
	// MaxRequestSize is the largest request frame accepted, in bytes.
	// Kafka: socket.request.max.bytes, default 100 MiB.
	MaxRequestSize int32
	// IdleTimeout closes a connection on which nothing was read or written
	// for this long. Kafka: connections.max.idle.ms, default 10 minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response to a client that does not
	// read. Default: IdleTimeout.
	WriteTimeout time.Duration
	// MaxConnections is the most connections open at once; more are closed
	// as soon as they are accepted. Kafka: max.connections, default
	// unlimited; here 10,000.
	MaxConnections int
	// MaxInFlight is how many requests of one connection are read ahead of
	// the one being served; then the connection is not read (muted) until
	// one is answered. Default 16. Memory per connection is bounded by
	// (MaxInFlight+1) × MaxRequestSize.
	MaxInFlight int
	// MaxQueuedBytes bounds the bytes of requests read but not yet
	// answered, summed over all connections; a connection whose next
	// request does not fit is not read until others are answered. One
	// request is always admitted when nothing is queued. Kafka:
	// queued.max.request.bytes (default unbounded there). Default 256 MiB;
	// negative means unbounded.
	MaxQueuedBytes int64
	// SendfileMinBytes: a fetched partition's records at least this long
	// are sent from the segment file with sendfile(2); shorter ones are
	// copied into the response, which is cheaper for small ones (see
	// docs/benchmarks.md). Default 64 KiB; negative turns zero-copy off.
	SendfileMinBytes int64
	// StopTimeout bounds a graceful stop: connections still busy after it
	// are closed. Default 10 s.
	StopTimeout time.Duration
	// Logger receives one line per bad connection. Default slog.Default().
	Logger *slog.Logger
	// Observe, if set, is called once per request served, after its
	// response is written (or, for acks=0 produce, after it is served),
	// with the API key, the time from the start of serving to then, and
	// the request frame's size. It runs on the connection's worker, so it
	// must be cheap; it must be safe for concurrent use (metrics).
	Observe func(apiKey int16, d time.Duration, requestBytes int64)
}

func (c *Config) fill() {
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = 100 << 20
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = c.IdleTimeout
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 16
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = 256 << 20
	}
	if c.SendfileMinBytes == 0 {
		c.SendfileMinBytes = 64 << 10
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server accepts Kafka connections on one listener.
type Server struct {
	cfg Config
	h   Handler
	ln  net.Listener
	mem *memPool // request bytes in flight, all connections

	mu sync.Mutex
	// The fields below are guarded by mu.
	conns    map[*conn]struct{}
	stopping bool

	wg sync.WaitGroup // one per connection
}

// Listen binds addr ("host:port"; port 0 picks a free one) and returns a
// Server that is not yet serving: call Run.
func Listen(addr string, h Handler, cfg Config) (*Server, error) {
	cfg.fill()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &Server{cfg: cfg, h: h, ln: ln, mem: newMemPool(cfg.MaxQueuedBytes), conns: make(map[*conn]struct{})}, nil
}

// Close releases the listener of a Server that never ran. Run closes it
// itself.
func (s *Server) Close() error { return s.ln.Close() }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run accepts connections until ctx is done, then stops gracefully: it stops
// accepting, lets every connection finish the requests it has read (their
// handlers see a canceled context), and returns once all connections are
// closed, at most StopTimeout plus a little later.
func (s *Server) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		s.ln.Close() // unblocks Accept
	}()

	var acceptErr error
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off as
				// net/http does, bounded at one second.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			acceptErr = fmt.Errorf("accept: %w", err)
			break
		}
		backoff = 0
		s.startConn(ctx, nc)
	}
	s.stop()
	return acceptErr
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// startConn registers and starts a connection, or closes it at once when
// the server is full or stopping.
func (s *Server) startConn(ctx context.Context, nc net.Conn) {
	s.mu.Lock()
	if s.stopping || len(s.conns) >= s.cfg.MaxConnections {
		full := !s.stopping
		s.mu.Unlock()
		if full {
			s.cfg.Logger.Warn("connection refused: max.connections reached",
				"peer", nc.RemoteAddr().String(), "max", s.cfg.MaxConnections)
		}
		nc.Close()
		return
	}
	c := newConn(context.WithoutCancel(ctx), s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// stop asks every connection to finish, waits at most StopTimeout, then
// closes the stragglers and waits for them to return.
func (s *Server) stop() {
	s.mu.Lock()
	s.stopping = true
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()

	if waitTimeout(&s.wg, s.cfg.StopTimeout) {
		return
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	n := len(s.conns)
	s.mu.Unlock()
	s.cfg.Logger.Warn("closed busy connections at stop", "count", n)
	if !waitTimeout(&s.wg, s.cfg.StopTimeout) {
		s.cfg.Logger.Error("connections did not stop; a handler ignores its context")
	}
}

// waitTimeout waits for wg at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
