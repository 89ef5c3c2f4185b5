package chaos

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Membership row F15: a broker joins, takes replicas during writes, and an
// old one is decommissioned in the nats-server #7545 pattern.
func init() {
	register(scenario{id: "F15", fault: "add a broker-only node, reassign a partition onto it during writes; then isolate it (proxy, 6-8 s), reassign the rest onto it away from an old node and SIGKILL that node, in quick succession; the old node never returns",
		partitions: 3, nemesis: decommission})
}

// decommission is F15. Node 4 (process.roles=broker) joins; partition 0
// moves from a seeded old node D onto it while the workload writes. Then,
// within about half a second: node 4 is cut off from the two other old
// nodes (the partition), the other partitions are reassigned from D to
// node 4 (the removal) and D is SIGKILLed (the kill), so the removal is
// pending while its old replica dies and its new one cannot catch up. D
// never comes back: the reassignments must complete without it once node
// 4 is reachable again, and the post-run checks cover node 4 and the two
// remaining old nodes.
func decommission(r *run) {
	rounds := 1
	if *soak {
		rounds = 2 // the second round decommissions the broker the first added
	}
	old := -1
	for range rounds {
		old = decommissionRound(r, old)
	}
	r.sleep(3 * time.Second)
}

// decommissionRound adds a broker, moves partition 0 onto it, then
// decommissions node old (a seeded old node if -1) in the #7545 pattern;
// it returns the added node's id.
func decommissionRound(r *run, old int) int {
	nd, err := r.c.addBroker()
	if err != nil {
		r.t.Fatalf("add broker: %v", err)
	}
	r.nemesis("add", "node %d (broker only)", nd.ID)
	if d, err := eventually(r.ctx, 30*time.Second, func() error {
		md, err := r.c.metadata(r.ctx)
		if err == nil && !slices.ContainsFunc(md.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == int32(nd.ID) }) {
			err = fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return err
	}); err != nil {
		r.t.Fatalf("node %d not registered after %v: %v", nd.ID, d, err)
	}
	if old < 0 {
		old = pick(r.rng, r.others(nd.ID))
	}
	first := r.replace(map[int32]bool{0: true}, old, nd.ID)
	r.nemesis("reassign", "partition 0 onto node %d: %v", nd.ID, first)
	r.reassign(first)
	r.awaitReassigned(first, 60*time.Second)

	rest := map[int32]bool{}
	for p := int32(1); p < r.partitions; p++ {
		rest[p] = true
	}
	moves := r.replace(rest, old, nd.ID)
	cut := slices.DeleteFunc(r.others(nd.ID), func(id int) bool { return id == old })
	r.nemesis("isolate", "node %d from %v (both ways; clients still reach it)", nd.ID, cut)
	r.c.net.Isolate(nd.ID, cut...)
	r.sleep(time.Duration(r.rng.IntN(300)) * time.Millisecond)
	r.nemesis("reassign", "away from node %d: %v", old, moves)
	r.reassign(moves)
	gone := r.c.node(int32(old))
	r.sleep(time.Duration(r.rng.IntN(300)) * time.Millisecond)
	r.nemesis("kill", "node %d (decommissioned, never restarted)", old)
	r.c.retire(gone)
	gone.kill()
	r.sleep(time.Duration(6000+r.rng.IntN(2000)) * time.Millisecond)
	r.nemesis("heal-net", "")
	r.c.net.Heal()
	r.awaitReassigned(moves, 60*time.Second)
	return nd.ID
}

// replace returns the replica sets of the partitions in ps with node from
// replaced by node to.
func (r *run) replace(ps map[int32]bool, from, to int) map[int32][]int32 {
	md, err := r.c.metadata(r.ctx, r.topic)
	if err != nil {
		r.t.Fatalf("metadata: %v", err)
	}
	out := map[int32][]int32{}
	for p, pd := range md.Topics[r.topic].Partitions {
		if !ps[p] {
			continue
		}
		rs := slices.Clone(pd.Replicas)
		if i := slices.Index(rs, int32(from)); i >= 0 {
			rs[i] = int32(to)
		}
		out[p] = rs
	}
	return out
}

// reassign asks for the replica sets (AlterPartitionReassignments), with
// retries for at most 30 s.
func (r *run) reassign(to map[int32][]int32) {
	var req kadm.AlterPartitionAssignmentsReq
	for p, rs := range to {
		req.Assign(r.topic, p, rs)
	}
	if _, err := eventually(r.ctx, 30*time.Second, func() error {
		cl, err := r.c.freshClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).AlterPartitionAssignments(ctx, req)
		if err == nil {
			err = resp.Error()
		}
		return err
	}); err != nil {
		r.problem("reassign %v: %v", to, err)
	}
}

// awaitReassigned waits at most d until every partition in want has exactly
// the wanted replicas, and notes how long that took.
func (r *run) awaitReassigned(want map[int32][]int32, d time.Duration) {
	took, err := eventually(r.ctx, d, func() error {
		md, err := r.c.metadata(r.ctx, r.topic)
		if err != nil {
			return err
		}
		for p, rs := range want {
			got := slices.Sorted(slices.Values(md.Topics[r.topic].Partitions[p].Replicas))
			if !slices.Equal(got, slices.Sorted(slices.Values(rs))) {
				return fmt.Errorf("partition %d replicas %v, want %v", p, got, rs)
			}
		}
		return nil
	})
	if err != nil {
		r.problem("reassignment not complete after %v: %v", took.Round(time.Second), err)
		return
	}
	r.maxNote("reassignment", took)
}
