package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// testCluster is an in-process cluster: nodes 1..controllers are
// controller+broker, the next ones broker-only (raft learners), all on
// 127.0.0.1.
type testCluster struct {
	t     *testing.T
	cfgs  map[int32]*config.Broker
	nodes map[int32]*Running
	opts  Options // for every node, with a discarding Logger
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newTestCluster(t *testing.T, controllers, brokers int, opts ...func(*Options)) *testCluster {
	t.Helper()
	var voters []string
	for i := 1; i <= controllers; i++ {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, freePort(t)))
	}
	c := &testCluster{t: t, cfgs: map[int32]*config.Broker{}, nodes: map[int32]*Running{}}
	c.opts.Logger = slog.New(slog.DiscardHandler)
	for _, o := range opts {
		o(&c.opts)
	}
	for i := 1; i <= controllers+brokers; i++ {
		cfg := config.Defaults()
		must(t, cfg.Set("node.id", fmt.Sprint(i)))
		must(t, cfg.Set("log.dirs", t.TempDir()))
		must(t, cfg.Set("controller.quorum.voters", strings.Join(voters, ",")))
		must(t, cfg.Set("broker.session.timeout.ms", "1500"))
		must(t, cfg.Set("broker.heartbeat.interval.ms", "150"))
		must(t, cfg.Set("broker.rack", fmt.Sprintf("rack-%d", i%2)))
		if i <= controllers {
			must(t, cfg.Set("process.roles", "broker,controller"))
			_, addr, _ := strings.Cut(voters[i-1], "@")
			must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://"+addr))
		} else {
			must(t, cfg.Set("process.roles", "broker"))
			must(t, cfg.Set("listeners", "PLAINTEXT://127.0.0.1:0"))
		}
		c.cfgs[int32(i)] = &cfg
	}
	for id := range c.cfgs {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	return c
}

// addrs returns the client addresses of brokers 1 to n.
func (c *testCluster) addrs(n int32) []string {
	var out []string
	for id := int32(1); id <= n; id++ {
		out = append(out, c.nodes[id].Addr().String())
	}
	return out
}

func (c *testCluster) start(id int32) {
	c.t.Helper()
	r, err := Start(c.cfgs[id], c.opts)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id] = r
}

func (c *testCluster) stop(id int32) {
	c.t.Helper()
	if err := c.nodes[id].Stop(30 * time.Second); err != nil {
		c.t.Errorf("stop node %d: %v", id, err)
	}
	delete(c.nodes, id)
}

// waitFor polls cond every 20ms for at most d.
func (c *testCluster) waitFor(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			for id, r := range c.nodes {
				c.t.Logf("node %d: quorum %+v\n%s", id, r.Meta().QuorumStatus(), imageString(r.Meta().Image()))
			}
			c.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leader returns the active controller's node id, or -1.
func (c *testCluster) leader() int32 {
	for id, r := range c.nodes {
		if r.Meta().QuorumStatus().IsLeader {
			return id
		}
	}
	return -1
}

// live returns the live broker ids of node id's image.
func (c *testCluster) live(id int32) []int32 {
	var out []int32
	for _, b := range c.nodes[id].Meta().Image().Brokers {
		out = append(out, b.NodeID)
	}
	return out
}

func (c *testCluster) waitLive(want ...int32) {
	c.t.Helper()
	slices.Sort(want)
	c.waitFor(20*time.Second, fmt.Sprintf("live brokers %v on every node", want), func() bool {
		for id := range c.nodes {
			if !slices.Equal(c.live(id), want) {
				return false
			}
		}
		return true
	})
}

// converged waits until every node's image equals the leader's.
func (c *testCluster) converged() {
	c.t.Helper()
	c.waitFor(20*time.Second, "metadata convergence", func() bool {
		l := c.leader()
		if l < 0 {
			return false
		}
		want := imageString(c.nodes[l].Meta().Image())
		for _, r := range c.nodes {
			if imageString(r.Meta().Image()) != want {
				return false
			}
		}
		return true
	})
}

// imageString renders what must agree across nodes.
func imageString(im *metadata.Image) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster=%s offset=%d\n", im.ClusterID, im.Offset)
	for _, r := range im.Registrations {
		fmt.Fprintf(&b, "broker %d epoch=%d fenced=%v %s:%d\n", r.NodeID, r.Epoch, r.Fenced, r.Host, r.Port)
	}
	for _, n := range im.TopicNames() {
		t := im.Topic(n)
		fmt.Fprintf(&b, "topic %s %s %v\n", n, metadata.IDString(t.ID), t.Configs)
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "  %d leader=%d epoch=%d/%d replicas=%v isr=%v\n", p.Index, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.Replicas, p.ISR)
		}
	}
	return b.String()
}

func (c *testCluster) admin(id int32) *kadm.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[id].Addr().String()), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func clusterCreate(t *testing.T, adm *kadm.Client, name string, parts int32, rf int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, parts, rf, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func TestClusterTopicReplicatedToEveryBroker(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	c.waitLive(1, 2, 3, 4)
	// Node 4 is a broker-only learner: its CreateTopics is forwarded.
	clusterCreate(t, c.admin(4), "orders", 8, 3)
	c.converged()
	for id, r := range c.nodes {
		tp := r.Meta().Image().Topic("orders")
		if tp == nil || len(tp.Partitions) != 8 {
			t.Fatalf("node %d: topic orders = %+v", id, tp)
		}
	}
	im := c.nodes[4].Meta().Image()
	leaders := map[int32]int{}
	for _, p := range im.Topic("orders").Partitions {
		leaders[p.Leader]++
		racks := map[string]bool{}
		for _, r := range p.Replicas {
			racks[*im.Broker(r).Rack] = true
		}
		if len(racks) != 2 {
			t.Errorf("partition %d replicas %v span racks %v, want both", p.Index, p.Replicas, racks)
		}
	}
	for id := int32(1); id <= 4; id++ {
		if leaders[id] != 2 {
			t.Errorf("leaders per broker = %v, want 2 each", leaders)
			break
		}
	}
	// Metadata through any broker lists all four.
	md, err := c.admin(2).BrokerMetadata(context.Background())
	if err != nil || len(md.Brokers) != 4 {
		t.Fatalf("metadata brokers = %v, %v", md.Brokers, err)
	}
}

func TestClusterFencingAndLeaderElection(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.waitLive(1, 2, 3)
	clusterCreate(t, c.admin(1), "events", 6, 3)
	c.converged()
	// A broker that stops heartbeating (not the active controller, whose
	// own heartbeats are local) is fenced after the session timeout and
	// loses its leaderships and ISR places.
	victim := int32(1)
	if c.leader() == victim {
		victim = 2
	}
	before := c.nodes[victim].Meta().Image().Topic("events")
	c.nodes[victim].quorum.paused.Store(true)
	c.waitLive(slices.DeleteFunc([]int32{1, 2, 3}, func(id int32) bool { return id == victim })...)
	c.converged()
	after := c.nodes[c.leader()].Meta().Image().Topic("events")
	for i, p := range after.Partitions {
		if p.Leader == victim || slices.Contains(p.ISR, victim) {
			t.Errorf("partition %d after fencing %d: leader %d isr %v", i, victim, p.Leader, p.ISR)
		}
		if before.Partitions[i].Leader == victim && p.LeaderEpoch <= before.Partitions[i].LeaderEpoch {
			t.Errorf("partition %d: leader epoch %d not bumped from %d", i, p.LeaderEpoch, before.Partitions[i].LeaderEpoch)
		}
	}
	// Heartbeats resume: unfenced again.
	c.nodes[victim].quorum.paused.Store(false)
	c.waitLive(1, 2, 3)
}

func TestClusterActiveControllerFailover(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.waitLive(1, 2, 3)
	clusterCreate(t, c.admin(1), "before", 3, 3)
	old := c.leader()
	c.stop(old)
	var rest []int32
	for id := range c.nodes {
		rest = append(rest, id)
	}
	c.waitFor(20*time.Second, "a new active controller", func() bool { l := c.leader(); return l >= 0 && l != old })
	c.waitLive(rest...)
	clusterCreate(t, c.admin(rest[0]), "after", 3, 2)
	c.converged()
	for _, id := range rest {
		im := c.nodes[id].Meta().Image()
		if im.Topic("before") == nil || im.Topic("after") == nil {
			t.Fatalf("node %d lacks a topic: %v", id, im.TopicNames())
		}
		for _, p := range im.Topic("before").Partitions {
			if p.Leader == old || p.Leader < 0 {
				t.Errorf("node %d: before-%d leader %d after %d stopped", id, p.Index, p.Leader, old)
			}
		}
	}
	// The old controller comes back, replays the log and catches up.
	c.start(old)
	c.waitLive(1, 2, 3)
	c.converged()
}

func TestClusterRestartReplaysLog(t *testing.T) {
	c := newTestCluster(t, 3, 1)
	c.waitLive(1, 2, 3, 4)
	clusterCreate(t, c.admin(2), "kept", 4, 2)
	c.converged()
	want := c.nodes[4].Meta().Image().Topic("kept")
	for id := range c.nodes {
		c.stop(id)
	}
	for id := range c.cfgs {
		c.start(id)
	}
	c.waitLive(1, 2, 3, 4)
	c.converged()
	for id, r := range c.nodes {
		got := r.Meta().Image().Topic("kept")
		if got == nil || got.ID != want.ID || len(got.Partitions) != 4 {
			t.Fatalf("node %d after restart: %+v, want id %x", id, got, want.ID)
		}
	}
}
