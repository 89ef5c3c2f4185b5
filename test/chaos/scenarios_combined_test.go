package chaos

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var (
	repeatRow  = flag.String("chaos.row", "F19", "the row TestChaosRepeat runs")
	repeatRuns = flag.Int("chaos.runs", 0, "TestChaosRepeat runs -chaos.row this many times, each with a new seed (0: skipped)")
)

func init() {
	register(scenario{id: "F19", fault: "combined: kill, isolate, clock skew/jump/strobe on random nodes, a seeded schedule (txn side workload)",
		partitions: 3, env: clockEnv, props: txnProps, side: txnSide(nil), nemesis: combinedNemesis})
}

// combinedNemesis runs a random schedule from the seed (Jepsen's
// combined nemesis): every 2-5 s one of kill, isolate, heal, skew, jump or
// strobe (starting with a kill), at most one node dead or isolated at a time (a majority always
// up), for 25 s (soak: 300 s); then everything back.
func combinedNemesis(r *run) {
	d := 25 * time.Second
	if *soak {
		d = 300 * time.Second
	}
	var down *node     // killed, not restarted yet
	var isolated *node // cut off from the other nodes
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end) && r.ctx.Err() == nil; i++ {
		nd := pick(r.rng, r.c.nodes)
		k := r.rng.IntN(6)
		if i == 0 {
			k = 0 // every schedule has a kill
		}
		switch {
		case k == 0 && down == nil && isolated == nil:
			r.nemesis("kill", "node %d", nd.ID)
			nd.kill()
			down = nd
		case k == 1 && down == nil && isolated == nil:
			var others []int
			for _, o := range r.c.nodes {
				if o != nd {
					others = append(others, o.ID)
				}
			}
			r.nemesis("isolate", "node %d from %v", nd.ID, others)
			r.c.net.Isolate(nd.ID, others...)
			isolated = nd
		case k == 2 && down != nil:
			r.nemesis("start", "node %d", down.ID)
			r.restart(down)
			down = nil
		case k == 2 && isolated != nil:
			r.nemesis("heal-net", "node %d", isolated.ID)
			r.c.net.Heal()
			isolated = nil
		case k == 4:
			strobe(r, nd, randSkew(r).Abs(), time.Duration(1+r.rng.IntN(3))*time.Second)
		case k == 5:
			skewNemesis(r, nd, 0, "")
		default: // a skew or jump, also when the chosen fault cannot be applied now
			skewNemesis(r, nd, randSkew(r), "")
		}
		r.sleep(time.Duration(2000+r.rng.IntN(3000)) * time.Millisecond)
	}
	if down != nil {
		r.nemesis("start", "node %d", down.ID)
		r.restart(down)
	}
	r.c.net.Heal()
	resetClocks(r)
	r.sleep(2 * time.Second)
}

// TestChaosRepeat runs one row (-chaos.row, default F19) -chaos.runs times,
// each with a new seed (the soak of F19: -chaos.soak -chaos.runs=20; leave
// -chaos.seed unset, or every run replays it).
func TestChaosRepeat(t *testing.T) {
	if *repeatRuns <= 0 || testing.Short() {
		t.Skip("set -chaos.runs")
	}
	t.Cleanup(func() { printTable(t) })
	for _, sc := range scenarios {
		if sc.id != *repeatRow {
			continue
		}
		for i := range *repeatRuns {
			t.Run(fmt.Sprintf("%s/run-%d", sc.id, i+1), func(t *testing.T) { runScenario(t, sc) })
		}
		return
	}
	t.Fatalf("no row %s", *repeatRow)
}
