package chaos

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client is the node id the proxy gives connections that do not come from a
// broker (the test's producers and consumers).
const Client = 0

// link is a direction of travel: bytes flowing from node From to node To.
type link struct{ From, To int }

// Rule is the fault applied to every byte travelling along one direction.
// The zero Rule forwards bytes as they come.
type Rule struct {
	// Blackhole stalls the direction: bytes already sent are held, later
	// bytes stay in the kernel's buffers, the sender sees no error (a silent
	// partition). Connections stay open; healing delivers what was held.
	Blackhole bool
	// Delay and Jitter postpone every chunk by Delay plus a uniform random
	// part of Jitter, preserving the order of a connection's bytes.
	Delay, Jitter time.Duration
	// BytesPerSec limits bandwidth; 0 means unlimited.
	BytesPerSec int
	// HoldAPIKey, when ≥ 0, holds the first Kafka request frame with this API
	// key (and everything after it on that connection) until Release.
	// Only Kafka connections towards a broker are framed.
	HoldAPIKey int16
}

// Net is an in-process, toxiproxy-style fault proxy in front of every broker
// listener. Every connection belongs to a directed pair of nodes (0 is the
// test's clients), found from the listener it came in on (one CONTROLLER
// proxy per pair) or from the client id of its first Kafka request
// ("kavka-replica-N", "kavka-broker-N"), so faults can be set per direction.
type Net struct {
	mu       sync.Mutex
	rules    map[link]Rule // guarded by mu
	held     map[link]chan struct{}
	conns    map[*pconn]struct{} // guarded by mu
	lns      []*lspec            // guarded by mu
	rng      *rand.Rand          // guarded by mu
	closed   bool
	wg       sync.WaitGroup
	logf     func(string, ...any)
	accepted map[link]int // guarded by mu; connections per link, for tests
}

// NewNet returns a proxy with no faults; seed drives its jitter.
func NewNet(seed uint64, logf func(string, ...any)) *Net {
	return &Net{rules: map[link]Rule{}, held: map[link]chan struct{}{}, conns: map[*pconn]struct{}{},
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), logf: logf, accepted: map[link]int{}}
}

// ListenKafka proxies connections on listen to backend, the Kafka listener of
// broker to; it returns the proxy address to advertise.
func (n *Net) ListenKafka(listen, backend string, to int) (string, error) {
	return n.listen(listen, backend, -1, to)
}

// ListenPair proxies connections from node from to node to's backend.
func (n *Net) ListenPair(listen, backend string, from, to int) (string, error) {
	return n.listen(listen, backend, from, to)
}

// lspec is one proxy listener; l is nil while its node is down.
type lspec struct {
	addr, backend string
	from, to      int
	l             net.Listener
}

func (n *Net) listen(listen, backend string, from, to int) (string, error) {
	ls := &lspec{addr: listen, backend: backend, from: from, to: to}
	if err := n.accept(ls); err != nil {
		return "", err
	}
	n.mu.Lock()
	n.lns = append(n.lns, ls)
	n.mu.Unlock()
	return ls.addr, nil
}

// accept (re)opens ls's listener and serves it. n.mu must not be held.
func (n *Net) accept(ls *lspec) error {
	var l net.Listener
	var err error
	for range 50 { // the port may linger for a moment after a close
		if l, err = net.Listen("tcp", ls.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	ls.addr, ls.l = l.Addr().String(), l
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.wg.Add(1)
			go func() { defer n.wg.Done(); n.serve(c, ls.backend, ls.from, ls.to) }()
		}
	}()
	return nil
}

// Down closes the proxy listeners in front of node, so that callers get
// "connection refused" as from a dead process, not an accepted connection
// that closes at once.
func (n *Net) Down(node int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ls := range n.lns {
		if ls.to == node && ls.l != nil {
			ls.l.Close()
			ls.l = nil
		}
	}
}

// Up reopens the listeners Down closed, on the same addresses.
func (n *Net) Up(node int) error {
	n.mu.Lock()
	var todo []*lspec
	for _, ls := range n.lns {
		if ls.to == node && ls.l == nil {
			todo = append(todo, ls)
		}
	}
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return nil
	}
	for _, ls := range todo {
		if err := n.accept(ls); err != nil {
			return err
		}
	}
	return nil
}

// Close stops every listener and connection.
func (n *Net) Close() {
	n.mu.Lock()
	n.closed = true
	for _, ls := range n.lns {
		if ls.l != nil {
			ls.l.Close()
		}
	}
	for c := range n.conns {
		c.close(true)
	}
	for _, ch := range n.held {
		close(ch)
	}
	n.held = map[link]chan struct{}{}
	n.mu.Unlock()
	n.wg.Wait()
}

// Set replaces the rule of the direction from→to.
func (n *Net) Set(from, to int, r Rule) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rules[link{from, to}] = r
}

// Update changes the rule of from→to in place.
func (n *Net) Update(from, to int, f func(*Rule)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.rules[link{from, to}]
	if !ok {
		r.HoldAPIKey = -1
	}
	f(&r)
	n.rules[link{from, to}] = r
}

// Partition blackholes from→to (one way).
func (n *Net) Partition(from, to int) { n.Update(from, to, func(r *Rule) { r.Blackhole = true }) }

// Isolate blackholes both directions between node and every one of others.
func (n *Net) Isolate(node int, others ...int) {
	for _, o := range others {
		n.Partition(node, o)
		n.Partition(o, node)
	}
}

// Reset closes every open connection from→to or to→from with an RST.
func (n *Net) Reset(from, to int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.conns {
		if (c.from == from && c.to == to) || (c.from == to && c.to == from) {
			c.close(true)
		}
	}
}

// Release lets the frame held on from→to (and what follows) through.
func (n *Net) Release(from, to int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.held[link{from, to}]; ok {
		close(ch)
		delete(n.held, link{from, to})
	}
	if r, ok := n.rules[link{from, to}]; ok {
		r.HoldAPIKey = -1
		n.rules[link{from, to}] = r
	}
}

// Heal removes every rule and releases every held frame.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rules = map[link]Rule{}
	for _, ch := range n.held {
		close(ch)
	}
	n.held = map[link]chan struct{}{}
}

// Accepted returns how many connections from→to the proxy has accepted.
func (n *Net) Accepted(from, to int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accepted[link{from, to}]
}

func (n *Net) rule(l link) (Rule, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.rules[l]
	if !ok {
		r.HoldAPIKey = -1
	}
	var j time.Duration
	if r.Jitter > 0 {
		j = time.Duration(n.rng.Int64N(int64(r.Jitter)))
	}
	return r, j
}

// holdChan returns the channel closed when from→to's held frame is released.
func (n *Net) holdChan(l link) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.held[l]
	if !ok {
		ch = make(chan struct{})
		if n.closed {
			close(ch)
		} else {
			n.held[l] = ch
		}
	}
	return ch
}

type pconn struct {
	from, to int
	c, b     net.Conn
	once     sync.Once
	done     chan struct{}
}

func (p *pconn) close(rst bool) {
	p.once.Do(func() {
		if rst {
			for _, c := range []net.Conn{p.c, p.b} {
				if tc, ok := c.(*net.TCPConn); ok && tc != nil {
					tc.SetLinger(0)
				}
			}
		}
		p.c.Close()
		if p.b != nil {
			p.b.Close()
		}
		close(p.done)
	})
}

// readFrame reads one Kafka size-prefixed frame.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	sz := binary.BigEndian.Uint32(size[:])
	if sz > 256<<20 {
		return nil, fmt.Errorf("frame size %d", sz)
	}
	b := make([]byte, 4+sz)
	copy(b, size[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

// frameSource returns the node a request frame comes from, by client id.
func frameSource(f []byte) int {
	// size(4) api_key(2) api_version(2) correlation_id(4) client_id(2+n)
	if len(f) < 14 {
		return Client
	}
	l := int(int16(binary.BigEndian.Uint16(f[12:14])))
	if l <= 0 || 14+l > len(f) {
		return Client
	}
	id := string(f[14 : 14+l])
	for _, p := range []string{"kavka-replica-", "kavka-broker-"} {
		if s, ok := strings.CutPrefix(id, p); ok {
			if n, err := strconv.Atoi(s); err == nil {
				return n
			}
		}
	}
	return Client
}

func (n *Net) serve(c net.Conn, backend string, from, to int) {
	var first []byte
	if from < 0 { // a Kafka listener: who is calling?
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		f, err := readFrame(c)
		if err != nil {
			c.Close()
			return
		}
		c.SetReadDeadline(time.Time{})
		first, from = f, frameSource(f)
	}
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p := &pconn{from: from, to: to, c: c, b: b, done: make(chan struct{})}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		p.close(true)
		return
	}
	n.conns[p] = struct{}{}
	n.accepted[link{from, to}]++
	n.mu.Unlock()
	defer func() {
		p.close(false)
		n.mu.Lock()
		delete(n.conns, p)
		n.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	framed := first != nil
	go func() { defer wg.Done(); n.pump(p, c, b, link{from, to}, first, framed) }()
	go func() { defer wg.Done(); n.pump(p, b, c, link{to, from}, nil, false) }()
	wg.Wait()
}

type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst applying the rules of l. framed pumps read whole
// Kafka frames, so a frame can be held by API key.
func (n *Net) pump(p *pconn, src, dst net.Conn, l link, first []byte, framed bool) {
	defer p.close(false)
	ch := make(chan chunk, 256)
	go func() {
		defer close(ch)
		if first != nil {
			select {
			case ch <- chunk{first, time.Now()}:
			case <-p.done:
				return
			}
		}
		for {
			var b []byte
			var err error
			if framed {
				b, err = readFrame(src)
			} else {
				buf := make([]byte, 32<<10)
				var k int
				k, err = src.Read(buf)
				b = buf[:k]
			}
			if len(b) > 0 {
				select {
				case ch <- chunk{b, time.Now()}:
				case <-p.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var due time.Time
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-p.done:
			return false
		}
	}
	for c := range ch {
		var at time.Time // when the chunk may go, once its delay is known
		for {
			r, jitter := n.rule(l)
			if framed && r.HoldAPIKey >= 0 && len(c.b) >= 6 && int16(binary.BigEndian.Uint16(c.b[4:6])) == r.HoldAPIKey {
				n.logf("proxy: holding api key %d on %d→%d", r.HoldAPIKey, l.From, l.To)
				select {
				case <-n.holdChan(l):
				case <-p.done:
					return
				}
				continue
			}
			if r.Blackhole { // checked again after every wait
				if !wait(10 * time.Millisecond) {
					return
				}
				continue
			}
			if at.IsZero() {
				at = c.at.Add(r.Delay + jitter)
				if at.Before(due) {
					at = due // keep the connection's order
				}
				due = at
			}
			if w := time.Until(at); w > 0 {
				if !wait(min(w, 10*time.Millisecond)) {
					return
				}
				continue
			}
			if r.BytesPerSec > 0 {
				if !wait(time.Duration(float64(len(c.b)) / float64(r.BytesPerSec) * float64(time.Second))) {
					return
				}
			}
			break
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
	// src ended: half-close so the other side sees EOF.
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-p.done
}
