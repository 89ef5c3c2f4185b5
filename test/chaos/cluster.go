package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kavka-io/kavka/test/harness"
)

// node is one `kavka serve` process (broker and controller). Its listeners
// bind 127.0.0.(10+ID); everyone else reaches them only through the proxy.
type node struct {
	ID      int
	Kafka   string // real Kafka listener
	Ctl     string // real CONTROLLER listener
	Proxy   string // advertised Kafka address (the proxy's)
	Dir     string // data directory; <Dir>.properties is the config
	c       *cluster
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool // SIGSTOPped
	log     *harness.TailBuffer
	env     []string // extra environment for the process (test hooks)
}

// cluster is n nodes behind one fault proxy.
type cluster struct {
	t    testing.TB
	bin  string
	net  *Net
	logf func(string, ...any)
	// nodes are the members the post-run checks cover. addBroker and
	// retire (called by a nemesis) replace the slice under mu, never
	// modify it in place; goroutines other than the nemesis's and the
	// test's read it through members.
	nodes   []*node
	retired []*node // decommissioned nodes, still killed at cleanup
	mu      sync.Mutex
	voters  []*node           // the controllers (the first n nodes)
	pairs   map[[2]int]string // proxy addresses from→to's CONTROLLER listener
	root    string            // data directories
	rng     *rand.Rand        // ports
	env     []string          // startClusterEnv's env, for added nodes
	extra   []string          // extra properties, for added nodes
}

// handedOut holds every address freePort returned in this process: rows run
// in parallel on the same IPs, and a port one cluster chose (its node not
// started yet, or down) must not be chosen by another.
var handedOut sync.Map // "ip:port" → struct{}

// freePort returns a port on ip that was free a moment ago and was never
// handed out before in this process, below the ephemeral range (32768+ on
// Linux), so that neither the proxy's listeners nor outgoing connections
// take it while its node is down.
func freePort(ip string, rng *rand.Rand) (string, error) {
	var err error
	for range 100 {
		addr := net.JoinHostPort(ip, fmt.Sprint(20000+rng.IntN(12000)))
		if _, taken := handedOut.LoadOrStore(addr, struct{}{}); taken {
			continue
		}
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			defer l.Close()
			return l.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("no free port on %s after 100 tries: %v", ip, err)
}

// startCluster starts n nodes on 127.0.0.11.. with every link proxied:
// Kafka traffic (clients and follower fetches) through one proxy per broker
// that tells callers apart by client id, and CONTROLLER traffic (raft and
// broker→controller RPCs) through one proxy per ordered pair, by giving
// each node its own controller.quorum.voters.
func startCluster(t testing.TB, n int, seed uint64, extra ...string) *cluster {
	t.Helper()
	return startClusterEnv(t, n, seed, nil, extra...)
}

// startClusterEnv is startCluster with extra process environment for every
// node; in each entry "{id}" becomes the node id and "{dir}" its data
// directory (e.g. a per-node file for a test hook).
func startClusterEnv(t testing.TB, n int, seed uint64, env []string, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: harness.Binary(t), logf: t.Logf, root: t.TempDir(), env: env, extra: extra,
		pairs: map[[2]int]string{}, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), seed))}
	c.net = NewNet(seed, t.Logf)
	t.Cleanup(c.net.Close)
	for i := 1; i <= n; i++ {
		nd, err := c.newNode(i, true)
		if errors.Is(err, errNoLoopback) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	c.voters = c.nodes
	for _, nd := range c.nodes {
		if err := c.writeProps(nd, "broker,controller"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range slices.Concat(c.nodes, c.retired) {
			nd.signal(syscall.SIGCONT)
			nd.kill()
			if d := os.Getenv("KAVKA_CHAOS_LOGDIR"); d != "" {
				os.MkdirAll(d, 0o755)
				os.WriteFile(filepath.Join(d, fmt.Sprintf("%s-node-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), nd.ID)), []byte(nd.log.String()), 0o644)
			}
			if t.Failed() || os.Getenv("KAVKA_CHAOS_LOGS") != "" {
				t.Logf("node %d log (tail):\n%s", nd.ID, nd.log.Tail(32<<10))
			}
		}
	})
	for _, nd := range c.nodes {
		if err := nd.start(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// seeds returns the proxied addresses, for kgo.SeedBrokers.
func (c *cluster) seeds() []string {
	var out []string
	for _, nd := range c.members() {
		out = append(out, nd.Proxy)
	}
	return out
}

// members returns the nodes the post-run checks cover, for goroutines
// other than the nemesis's.
func (c *cluster) members() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes
}

// ids returns the ids of the members.
func (c *cluster) ids() []int32 {
	var out []int32
	for _, nd := range c.members() {
		out = append(out, int32(nd.ID))
	}
	return out
}

// node returns the node with id id, a member or retired.
func (c *cluster) node(id int32) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range slices.Concat(c.nodes, c.retired) {
		if nd.ID == int(id) {
			return nd
		}
	}
	c.t.Fatalf("no node %d", id)
	return nil
}

// errNoLoopback means 127.0.0.x beyond 127.0.0.1 cannot be bound here.
var errNoLoopback = errors.New("cannot bind the loopback range")

// newNode reserves node id's ports on 127.0.0.(10+id) and its Kafka proxy.
func (c *cluster) newNode(id int, controller bool) (*node, error) {
	ip := fmt.Sprintf("127.0.0.%d", 10+id)
	kafka, err := freePort(ip, c.rng)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errNoLoopback, ip, err)
	}
	nd := &node{ID: id, Kafka: kafka, Dir: filepath.Join(c.root, fmt.Sprintf("node-%d", id)), c: c, log: harness.NewTailBuffer(8<<20, 4<<20)}
	if controller {
		if nd.Ctl, err = freePort(ip, c.rng); err != nil {
			return nil, err
		}
	}
	for _, e := range c.env {
		nd.env = append(nd.env, strings.NewReplacer("{id}", fmt.Sprint(id), "{dir}", nd.Dir).Replace(e))
	}
	if nd.Proxy, err = c.net.ListenKafka(ip+":0", kafka, id); err != nil {
		return nil, err
	}
	return nd, nil
}

// pair returns the proxy address from uses to reach to's CONTROLLER
// listener, opening it the first time.
func (c *cluster) pair(from, to *node) (string, error) {
	if a, ok := c.pairs[[2]int{from.ID, to.ID}]; ok {
		return a, nil
	}
	ip, _, _ := net.SplitHostPort(to.Ctl)
	a, err := c.net.ListenPair(ip+":0", to.Ctl, from.ID, to.ID)
	if err != nil {
		return "", err
	}
	c.pairs[[2]int{from.ID, to.ID}] = a
	return a, nil
}

// writeProps writes nd's configuration: roles is process.roles, and
// controller.quorum.voters names every voter through nd's own proxies.
func (c *cluster) writeProps(nd *node, roles string) error {
	var voters []string
	for _, o := range c.voters {
		a := o.Ctl
		if o != nd {
			var err error
			if a, err = c.pair(nd, o); err != nil {
				return err
			}
		}
		voters = append(voters, fmt.Sprintf("%d@%s", o.ID, a))
	}
	listeners := "PLAINTEXT://" + nd.Kafka
	if nd.Ctl != "" {
		listeners += ",CONTROLLER://" + nd.Ctl
	}
	props := []string{
		fmt.Sprintf("node.id=%d", nd.ID),
		"process.roles=" + roles,
		"controller.quorum.voters=" + strings.Join(voters, ","),
		"cluster.id=kavka-chaos-cluster",
		"listeners=" + listeners,
		"advertised.listeners=PLAINTEXT://" + nd.Proxy,
		"log.dirs=" + nd.Dir,
		"default.replication.factor=3",
		"min.insync.replicas=2",
		"broker.session.timeout.ms=4000",
		"broker.heartbeat.interval.ms=500",
		"offsets.topic.replication.factor=3",
	}
	props = append(props, c.extra...)
	return os.WriteFile(nd.Dir+".properties", []byte(strings.Join(props, "\n")+"\n"), 0o644)
}

// addBroker starts one more node with the next id, broker only
// (process.roles=broker, the same controller.quorum.voters through its own
// proxies), and makes it a member. Its Kafka traffic and its RPCs to the
// controllers are proxied; the raft messages the active controller pushes
// to it (a learner, at the ephemeral address of its registration) are not.
func (c *cluster) addBroker() (*node, error) {
	id := 0
	for _, nd := range slices.Concat(c.nodes, c.retired) {
		id = max(id, nd.ID)
	}
	nd, err := c.newNode(id+1, false)
	if err != nil {
		return nil, err
	}
	if err := c.writeProps(nd, "broker"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(slices.Clone(c.nodes), nd)
	c.mu.Unlock()
	return nd, nd.start()
}

// retire takes a decommissioned node out of the members: the heal does not
// restart it and the post-run checks skip it. The caller stops it.
func (c *cluster) retire(nd *node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = slices.DeleteFunc(slices.Clone(c.nodes), func(o *node) bool { return o == nd })
	c.retired = append(c.retired, nd)
}

// start starts the process and waits (≤ 30 s) until it listens.
func (nd *node) start() error {
	if err := nd.c.net.Up(nd.ID); err != nil {
		return fmt.Errorf("node %d: proxy listeners: %w", nd.ID, err)
	}
	nd.mu.Lock()
	cmd := exec.Command(nd.c.bin, "serve", "--config", nd.Dir+".properties")
	cmd.Stdout, cmd.Stderr = nd.log, nd.log
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS=1"), nd.env...)
	if err := cmd.Start(); err != nil {
		nd.mu.Unlock()
		return fmt.Errorf("start node %d: %w", nd.ID, err)
	}
	exited := make(chan struct{})
	nd.cmd, nd.exited, nd.stopped = cmd, exited, false
	nd.mu.Unlock()
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", nd.Kafka, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("node %d exited at start:\n%s", nd.ID, nd.log.Tail(8<<10))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d not listening after 30s", nd.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// signal sends sig without waiting.
func (nd *node) signal(sig syscall.Signal) {
	if !nd.running() {
		return
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.cmd.Process.Signal(sig)
	switch sig {
	case syscall.SIGSTOP:
		nd.stopped = true
	case syscall.SIGCONT:
		nd.stopped = false
	}
}

// pid returns the process id, or 0 when not running.
func (nd *node) pid() int {
	if !nd.running() {
		return 0
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the exit.
func (nd *node) kill() { nd.stop(syscall.SIGKILL, 10*time.Second) }

// stop sends sig and waits at most d for the exit, then SIGKILLs; it
// returns how long the exit took and whether it was within d.
func (nd *node) stop(sig syscall.Signal, d time.Duration) (time.Duration, bool) {
	if !nd.running() {
		return 0, true
	}
	start := time.Now()
	nd.signal(sig)
	nd.mu.Lock()
	exited, p := nd.exited, nd.cmd.Process
	nd.mu.Unlock()
	defer nd.c.net.Down(nd.ID)
	select {
	case <-exited:
		return time.Since(start), true
	case <-time.After(d):
		p.Kill()
		<-exited
		return time.Since(start), false
	}
}
