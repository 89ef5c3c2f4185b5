// Package cluster runs a Kavka cluster of separate `kavka serve` processes
// for process-level fault tests: node i listens on 127.0.0.(10+i) (Kafka
// port 9092, CONTROLLER port 9093) when the loopback range can be bound,
// else on distinct 127.0.0.1 ports; every node is broker and controller,
// with its own data directory and a generated server.properties. It talks
// to the nodes only through the binary and the network (franz-go).
package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/test/harness"
)

// Node is one process of the cluster.
type Node struct {
	ID         int32
	Addr       string // Kafka listener
	Controller string // CONTROLLER listener
	Dir        string // data directory; server.properties is beside it

	c      *Cluster
	cmd    *exec.Cmd
	exited chan struct{}
	log    *harness.TailBuffer
}

// Cluster is a set of nodes sharing one controller.quorum.voters.
type Cluster struct {
	t     testing.TB
	bin   string
	Nodes []*Node
}

// hosts returns n listen hosts with a Kafka and a controller port each.
func hosts(t testing.TB, n int) (kafka, ctl []string) {
	for i := 1; i <= n; i++ {
		ip := fmt.Sprintf("127.0.0.%d", 10+i)
		ok := true
		for _, port := range []string{"9092", "9093"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if !ok {
			kafka, ctl = nil, nil
			for range n {
				kafka = append(kafka, harness.FreeAddr(t))
				ctl = append(ctl, harness.FreeAddr(t))
			}
			return kafka, ctl
		}
		kafka = append(kafka, net.JoinHostPort(ip, "9092"))
		ctl = append(ctl, net.JoinHostPort(ip, "9093"))
	}
	return kafka, ctl
}

// Start starts an n-node cluster (every node broker and controller) with
// extra server.properties lines ("{id}" in them becomes the node id), and
// kills it when the test ends.
func Start(t testing.TB, n int, extra ...string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: harness.Binary(t)}
	kafka, ctl := hosts(t, n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctl[i]))
	}
	root := t.TempDir()
	for i := range n {
		nd := &Node{ID: int32(i + 1), Addr: kafka[i], Controller: ctl[i], Dir: filepath.Join(root, fmt.Sprintf("node-%d", i+1)), c: c, log: newLog()}
		props := []string{
			"node.id=" + fmt.Sprint(nd.ID),
			"process.roles=broker,controller",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"listeners=PLAINTEXT://" + nd.Addr + ",CONTROLLER://" + nd.Controller,
			"log.dirs=" + nd.Dir,
		}
		for _, e := range extra {
			props = append(props, strings.ReplaceAll(e, "{id}", fmt.Sprint(nd.ID))) // per-node values
		}
		if err := os.WriteFile(nd.Dir+".properties", []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Kill()
			if t.Failed() {
				t.Logf("node %d log:\n%s", nd.ID, nd.log.Tail(64<<10))
			}
		}
	})
	for _, nd := range c.Nodes {
		nd.Start()
	}
	return c
}

// Seeds returns every node's Kafka address, for kgo.SeedBrokers.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.Addr)
	}
	return out
}

// Start starts the node's process (it must not be running) and waits until
// its Kafka listener accepts connections.
func (nd *Node) Start() {
	t := nd.c.t
	t.Helper()
	cmd := exec.Command(nd.c.bin, "serve", "--config", nd.Dir+".properties")
	cmd.Stdout, cmd.Stderr = nd.log, nd.log
	procs := "1"
	if v := os.Getenv("KAVKA_CLUSTER_GOMAXPROCS"); v != "" {
		procs = v // a benchmark knob; the tests keep 1
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %d: %v", nd.ID, err)
	}
	nd.cmd, nd.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(nd.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", nd.Addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-nd.exited:
			t.Fatalf("node %d exited at start:\n%s", nd.ID, nd.log.Tail(16<<10))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d not listening after 30s", nd.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether the process is alive.
func (nd *Node) Running() bool {
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

// Kill sends SIGKILL and waits (bounded) for the process to exit.
func (nd *Node) Kill() { nd.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (graceful: controlled shutdown) and waits (bounded).
func (nd *Node) Stop() { nd.signal(syscall.SIGTERM) }

func (nd *Node) signal(sig syscall.Signal) {
	if !nd.Running() {
		return
	}
	nd.cmd.Process.Signal(sig)
	select {
	case <-nd.exited:
	case <-time.After(30 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.exited
	}
}

// Client returns a franz-go client seeded with the running nodes.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	var seeds []string
	for _, nd := range c.Nodes {
		if nd.Running() {
			seeds = append(seeds, nd.Addr)
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Quorum asks a running node for the metadata quorum (DescribeQuorum).
func (c *Cluster) Quorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("malformed DescribeQuorum response")
	}
	return &resp.Topics[0].Partitions[0], nil
}

// newLog keeps a node process's output: its last 2-4 MiB.
func newLog() *harness.TailBuffer { return harness.NewTailBuffer(4<<20, 2<<20) }
