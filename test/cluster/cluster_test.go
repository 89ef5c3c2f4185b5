package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// eventually retries f every 100ms for at most d.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func createTopic(ctx context.Context, adm *kadm.Client, name string) error {
	resp, err := adm.CreateTopic(ctx, 3, 3, nil, name)
	if err != nil {
		return err
	}
	if resp.Err != nil && resp.Err != kerr.TopicAlreadyExists {
		return resp.Err
	}
	return nil
}

// TestKillActiveController: three processes; SIGKILL the active controller
// while creating topics; the two others elect a new one and topic creation
// goes on; the killed node comes back and its metadata converges.
func TestKillActiveController(t *testing.T) {
	c := Start(t, 3, "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	eventually(t, 30*time.Second, "three live brokers", func() error {
		// A fresh client each time: kgo keeps what it learnt of the brokers.
		md, err := kadm.NewClient(c.Client()).BrokerMetadata(ctx)
		if err != nil || len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v, %v", md.Brokers, err)
		}
		return nil
	})
	var created []string
	create := func(n int) {
		for range n {
			name := fmt.Sprintf("t%03d", len(created))
			eventually(t, 30*time.Second, "create "+name, func() error { return createTopic(ctx, adm, name) })
			created = append(created, name)
		}
	}
	create(5)
	var leader int32 = -1
	eventually(t, 10*time.Second, "quorum leader", func() error {
		q, err := c.Quorum(ctx, c.Client())
		if err != nil || q.LeaderID < 1 {
			return fmt.Errorf("quorum %+v: %v", q, err)
		}
		leader = q.LeaderID
		return nil
	})
	t.Logf("killing active controller %d", leader)
	start := time.Now()
	c.Nodes[leader-1].Kill()
	create(1)
	t.Logf("first topic created %v after the kill", time.Since(start).Round(time.Millisecond))
	create(5)
	c.Nodes[leader-1].Start()
	// Every node, the restarted one included, lists every topic.
	for _, nd := range c.Nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("node %d has every topic", nd.ID), func() error {
			md, err := kadm.NewClient(nodeClient(t, nd.Addr)).Metadata(ctx)
			if err != nil {
				return err
			}
			for _, name := range created {
				if _, ok := md.Topics[name]; !ok {
					return fmt.Errorf("node %d lacks %s", nd.ID, name)
				}
			}
			if len(md.Brokers) != 3 {
				return fmt.Errorf("node %d lists brokers %v", nd.ID, md.Brokers)
			}
			return nil
		})
	}
}

func nodeClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	// Seeded with this node only (kgo may still ask others later).
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
