package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestAutoLeaderRebalance: a broker is killed and its leaderships move;
// once it is back and in sync, the active controller gives every partition
// back to its preferred replica (auto.leader.rebalance.enable, checked every
// leader.imbalance.check.interval.seconds).
func TestAutoLeaderRebalance(t *testing.T) {
	c := Start(t, 3, "broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500",
		"leader.imbalance.check.interval.seconds=1", "replica.lag.time.max.ms=3000")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitBrokers(t, ctx, c, 3)
	adm := kadm.NewClient(c.Client())
	eventually(t, 30*time.Second, "create topic", func() error {
		resp, err := adm.CreateTopic(ctx, 6, 3, nil, "balanced")
		if err == nil {
			err = resp.Err
		}
		return err
	})
	preferredLed := func(want bool, node int32) error {
		// Asked of node 1: a restarted node serves its old image for a moment.
		md, err := kadm.NewClient(nodeClient(t, c.Nodes[0].Addr)).Metadata(ctx, "balanced")
		if err != nil {
			return err
		}
		for _, p := range md.Topics["balanced"].Partitions {
			if p.Replicas[0] != node {
				continue
			}
			if (p.Leader == node) != want {
				return fmt.Errorf("partition %d: leader %d, replicas %v, isr %v", p.Partition, p.Leader, p.Replicas, p.ISR)
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, "preferred leaders at start", func() error { return preferredLed(true, 2) })
	c.Nodes[1].Kill()
	eventually(t, 30*time.Second, "leaderships of node 2 moved", func() error { return preferredLed(false, 2) })
	back := time.Now()
	c.Nodes[1].Start()
	eventually(t, 60*time.Second, "node 2 leads its preferred partitions again", func() error { return preferredLed(true, 2) })
	t.Logf("preferred leaders restored %v after the restart", time.Since(back).Round(100*time.Millisecond))
}
