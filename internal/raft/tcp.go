package raft

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	// ID is the local node id. Required.
	ID uint64
	// ListenAddr is where peers connect (the CONTROLLER listener), e.g.
	// "127.0.0.11:9093". Required; port 0 picks a free port.
	ListenAddr string
	// LocalAddr is the IP outgoing connections bind to. Default: the host of
	// ListenAddr when it is an IP other than a wildcard. Binding matters for
	// partition tests that blackhole 127.0.0.x → 127.0.0.y routes.
	LocalAddr string
	// Peers maps node ids to their ListenAddr. More can be added with
	// SetPeer (learners joining).
	Peers map[uint64]string
	// QueueLen bounds the messages queued per peer; when full, new messages
	// to that peer are dropped (raft retries). Default 4096.
	QueueLen int
	// MaxMessageBytes bounds one frame (a snapshot travels in one message).
	// Default 64 MiB.
	MaxMessageBytes int
	// DialTimeout and WriteTimeout bound connecting and writing. Defaults
	// 1s and 5s.
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// TCPTransport carries raft messages between controllers (and to learner
// brokers) over TCP: one outgoing connection per peer, each frame a 4-byte
// big-endian length and a marshalled raftpb.Message. Each peer has a
// bounded send queue drained by its own goroutine; inbound connections each
// have a reader goroutine that hands messages to the Receiver. All of them
// are owned by Run, which joins them before returning.
type TCPTransport struct {
	cfg  TCPConfig
	ln   net.Listener
	recv Receiver // set by Run before any goroutine starts

	mu sync.Mutex
	// The fields below are guarded by mu.
	peers   map[uint64]*tcpPeer
	conns   map[net.Conn]struct{} // inbound connections
	runCtx  context.Context       // nil until Run starts, and after it ends
	wg      sync.WaitGroup        // peer senders and connection readers
	stopped bool
}

type tcpPeer struct {
	id     uint64
	addr   string
	queue  chan []byte        // framed messages
	queued atomic.Int64       // bytes in queue
	cancel context.CancelFunc // stops this peer's sender (nil if not started)
}

// NewTCPTransport binds the listener (so that Addr is known before the
// Node exists) but starts no goroutine; call Run.
func NewTCPTransport(cfg TCPConfig) (*TCPTransport, error) {
	if cfg.ID == 0 || cfg.ListenAddr == "" {
		return nil, errors.New("raft: tcp transport: ID and ListenAddr are required")
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 4096
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LocalAddr == "" {
		if host, _, err := net.SplitHostPort(cfg.ListenAddr); err == nil {
			if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
				cfg.LocalAddr = host
			}
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("raft: listen %s: %w", cfg.ListenAddr, err)
	}
	t := &TCPTransport{cfg: cfg, ln: ln, peers: make(map[uint64]*tcpPeer), conns: make(map[net.Conn]struct{})}
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			t.peers[id] = &tcpPeer{id: id, addr: addr, queue: make(chan []byte, cfg.QueueLen)}
		}
	}
	return t, nil
}

// Addr is the listener's address.
func (t *TCPTransport) Addr() net.Addr { return t.ln.Addr() }

// SetPeer adds or re-addresses peer id.
func (t *TCPTransport) SetPeer(id uint64, addr string) {
	if id == t.cfg.ID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		if p.addr == addr {
			return
		}
		if p.cancel != nil {
			p.cancel()
		}
	}
	p := &tcpPeer{id: id, addr: addr, queue: make(chan []byte, t.cfg.QueueLen)}
	t.peers[id] = p
	t.startPeerLocked(p)
}

// RemovePeer forgets peer id.
func (t *TCPTransport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[id]; ok {
		if p.cancel != nil {
			p.cancel()
		}
		delete(t.peers, id)
	}
}

// Send frames msgs and queues them for their peers, dropping what does not
// fit (QueueLen messages or MaxMessageBytes bytes per peer) or has no known
// peer. It never blocks. Messages are marshalled here, on the caller's (the
// raft) goroutine, as etcd raft's contract asks.
func (t *TCPTransport) Send(msgs []*raftpb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		frame, err := appendFrame(nil, m)
		if err != nil || len(frame)-4 > t.cfg.MaxMessageBytes {
			t.cfg.Logger.Warn("raft: dropping unsendable message", "to", p.id, "type", m.GetType().String(), "bytes", len(frame), "err", err)
			continue
		}
		n := int64(len(frame))
		if q := p.queued.Load(); q > 0 && q+n > int64(t.cfg.MaxMessageBytes) {
			continue // full: drop, raft retries
		}
		select {
		case p.queue <- frame:
			p.queued.Add(n)
		default: // full: drop, raft retries
		}
	}
}

// startPeerLocked starts p's sender if Run is running. t.mu must be held.
func (t *TCPTransport) startPeerLocked(p *tcpPeer) {
	if t.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(t.runCtx)
	p.cancel = cancel
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.sendLoop(ctx, p)
	}()
}

// Run accepts connections and sends queued messages until ctx is done, then
// closes every connection and the listener and waits for its goroutines.
// Inbound messages go to recv (the *Node); if recv also has
// ReportUnreachable(uint64), failed sends are reported to it.
func (t *TCPTransport) Run(ctx context.Context, recv Receiver) error {
	t.mu.Lock()
	if t.stopped || t.runCtx != nil {
		t.mu.Unlock()
		return errors.New("raft: tcp transport: Run called twice")
	}
	t.recv = recv
	runCtx, cancel := context.WithCancel(ctx)
	t.runCtx = runCtx
	for _, p := range t.peers {
		t.startPeerLocked(p)
	}
	t.mu.Unlock()

	acceptErr := make(chan error, 1)
	go func() { acceptErr <- t.acceptLoop(runCtx) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-acceptErr:
	}
	cancel()
	t.ln.Close()
	if err == nil {
		<-acceptErr
	}
	t.mu.Lock()
	t.stopped, t.runCtx = true, nil
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

// Close releases the listener of a transport whose Run was never called.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runCtx != nil {
		return errors.New("raft: tcp transport: Close while running; cancel Run's context")
	}
	t.stopped = true
	if err := t.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (t *TCPTransport) acceptLoop(ctx context.Context) error {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("raft: accept: %w", err)
		}
		t.mu.Lock()
		if t.runCtx == nil {
			t.mu.Unlock()
			c.Close()
			return nil
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			t.readLoop(c)
			t.mu.Lock()
			delete(t.conns, c)
			t.mu.Unlock()
			c.Close()
		}()
	}
}

// readLoop reads frames until the connection fails. Bad input closes the
// connection; it never panics and never allocates more than MaxMessageBytes.
func (t *TCPTransport) readLoop(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n == 0 || n > t.cfg.MaxMessageBytes {
			t.cfg.Logger.Warn("raft: dropping connection: bad frame length", "remote", c.RemoteAddr().String(), "length", n)
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(buf, m); err != nil {
			t.cfg.Logger.Warn("raft: dropping connection: bad message", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		if m.GetTo() != t.cfg.ID {
			continue
		}
		t.recv.Receive(m)
	}
}

type unreachableReporter interface{ ReportUnreachable(id uint64) }

// sendLoop owns p's connection: it dials on demand, writes queued messages,
// and on failure reports the peer unreachable, drops what is queued and
// waits a bounded backoff before dialing again.
func (t *TCPTransport) sendLoop(ctx context.Context, p *tcpPeer) {
	var (
		conn    net.Conn
		w       *bufio.Writer
		backoff = 50 * time.Millisecond
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	fail := func(err error) {
		t.cfg.Logger.Debug("raft: peer unreachable", "peer", p.id, "addr", p.addr, "err", err)
		if conn != nil {
			conn.Close()
			conn = nil
		}
		if rep, ok := t.recv.(unreachableReporter); ok {
			rep.ReportUnreachable(p.id)
		}
		timer := time.NewTimer(backoff)
		defer timer.Stop()
		backoff = min(2*backoff, time.Second)
		for {
			select {
			case <-ctx.Done():
				return
			case f := <-p.queue: // stale by the time we reconnect; raft resends
				p.queued.Add(-int64(len(f)))
			case <-timer.C:
				return
			}
		}
	}
	for {
		var f []byte
		select {
		case <-ctx.Done():
			return
		case f = <-p.queue:
			p.queued.Add(-int64(len(f)))
		}
		if conn == nil {
			d := net.Dialer{Timeout: t.cfg.DialTimeout}
			if t.cfg.LocalAddr != "" {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(t.cfg.LocalAddr)}
			}
			c, err := d.DialContext(ctx, "tcp", p.addr)
			if err != nil {
				fail(err)
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 64<<10)
		}
		conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		err := func() error {
			// Write this message and whatever else is queued, then flush once.
			for i := 0; ; i++ {
				if _, err := w.Write(f); err != nil {
					return err
				}
				if i >= 256 {
					break
				}
				select {
				case f = <-p.queue:
					p.queued.Add(-int64(len(f)))
					continue
				default:
				}
				break
			}
			return w.Flush()
		}()
		if err != nil {
			fail(err)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

func appendFrame(dst []byte, m *raftpb.Message) ([]byte, error) {
	dst = append(dst, 0, 0, 0, 0)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst, nil
}
