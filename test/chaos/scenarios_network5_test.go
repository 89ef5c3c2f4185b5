package chaos

import (
	"fmt"
	"slices"
	"time"
)

// Row F6b: F6 on five nodes (five controllers, brokers on all), soak only.
// A 3/2 majority/minority split with the active controller in the
// minority, then a majority ring: in a seeded ring order every node
// reaches only its two neighbours, so each node sees a different majority
// (Jepsen's majorities-ring). The topic has RF=3 on five nodes, so a
// partition may have two replicas in the minority.
func init() {
	register(scenario{id: "F6b", fault: "five nodes: 3/2 split (the active controller and one more node cut off, 12-20 s), then majority ring (each node reaches only its two ring neighbours, 12-20 s)",
		partitions: 5, nodes: 5, soakOnly: true, nemesis: splitAndRing5})
}

func splitAndRing5(r *run) {
	d := func() time.Duration { return time.Duration(12+r.rng.IntN(9)) * time.Second }
	for range rounds(1, 3) {
		ctl := r.activeController()
		others := r.others(ctl)
		mate := pick(r.rng, others)
		minority := []int{ctl, mate}
		majority := slices.DeleteFunc(slices.Clone(others), func(id int) bool { return id == mate })
		// A partition with two replicas on the majority side can elect a
		// leader there and shrink its ISR to min.insync.replicas.
		var progress []int32
		for p, reps := range r.replicas() {
			n := 0
			for _, id := range reps {
				if slices.Contains(majority, int(id)) {
					n++
				}
			}
			if n >= 2 {
				progress = append(progress, p)
			}
		}
		slices.Sort(progress)
		r.nemesis("split", "nodes %v (active controller %d) | nodes %v, both ways; clients reach all; partitions %v must take writes", minority, ctl, majority, progress)
		for _, id := range minority {
			r.c.net.Isolate(id, majority...)
		}
		r.expectProgressOn(d(), "split", progress)
		r.nemesis("heal-net", "")
		r.c.net.Heal()
		r.settle()

		ring := r.rng.Perm(len(r.c.nodes))
		for i := range ring {
			ring[i] = r.c.nodes[ring[i]].ID
		}
		var cuts []string
		for i, a := range ring {
			b := ring[(i+2)%len(ring)]
			r.c.net.Isolate(a, b)
			cuts = append(cuts, fmt.Sprintf("%d↮%d", a, b))
		}
		r.nemesis("ring", "ring %v: cut %v; every node reaches its two neighbours (active controller was %d)", ring, cuts, r.activeController())
		// Not every partition can take writes in a ring (a broker that
		// cannot reach the active controller is fenced); the checks are
		// safety during it and liveness after the heal.
		r.sleep(d())
		r.nemesis("heal-net", "")
		r.c.net.Heal()
		r.settle()
	}
}

// replicas returns the replica list of every partition of the topic.
func (r *run) replicas() map[int32][]int32 {
	out := map[int32][]int32{}
	if _, err := eventually(r.ctx, 30*time.Second, func() error {
		md, err := r.c.metadata(r.ctx, r.topic)
		if err != nil {
			return err
		}
		for p, pd := range md.Topics[r.topic].Partitions {
			out[p] = pd.Replicas
		}
		if len(out) != int(r.partitions) {
			return fmt.Errorf("%d of %d partitions in the metadata", len(out), r.partitions)
		}
		return nil
	}); err != nil {
		r.t.Fatalf("replicas: %v", err)
	}
	return out
}

// expectProgressOn is expectProgress for some partitions only: each of ps
// must have acked a send invoked since the fault began.
func (r *run) expectProgressOn(d time.Duration, what string, ps []int32) {
	r.awaitProgress(d, what, ps, fmt.Sprintf("partitions %v", ps))
}
