package chaos

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Disk faults of the fault matrix: power loss of one node (F8) and of every
// node (F9), with the un-fsynced data dropped (vfs.SyncLog in the broker,
// vfs.DropUnsynced after the SIGKILL); a bit flip in a sealed segment of a
// follower (F11); damaged indexes and checkpoints (F12).
func init() {
	register(
		scenario{id: "F8", fault: "power loss of one broker (seeded choice): kill -9, drop its un-fsynced data, restart", partitions: 3, env: syncLogEnv, nemesis: powerLossOne},
		scenario{id: "F9", fault: "power loss of every broker within 0-3 s: kill -9 each, drop un-fsynced data, restart", partitions: 3, env: syncLogEnv, nemesis: powerLossAll},
		scenario{id: "F11", fault: "bit flip in a sealed segment of a stopped follower of partition 0, restart; then kill -9 the leader", partitions: 2,
			props: []string{"log.segment.bytes=2048", "log.scrub.bytes.per.second=1073741824"}, nemesis: bitFlipFollower},
		scenario{id: "F12", fault: "delete, truncate or garble the indexes, producer snapshots and checkpoints of a stopped broker, restart", partitions: 2,
			props: []string{"log.segment.bytes=4096"}, nemesis: damageCheckpoints},
	)
}

func rounds(quick, soaked int) int {
	if *soak {
		return soaked
	}
	return quick
}

func powerLossOne(r *run) {
	for range rounds(1, 5) {
		nd := pick(r.rng, r.c.nodes)
		what := "follower"
		if r.leader(0) == int32(nd.ID) {
			what = "leader of 0"
		}
		r.nemesis("power-loss", "node %d (%s)", nd.ID, what)
		rep, err := powerLoss(nd)
		if err != nil {
			r.t.Fatal(err)
		}
		r.nemesis("dropped", "node %d: %s", nd.ID, rep)
		r.sleep(time.Duration(2+r.rng.IntN(6)) * time.Second)
		r.nemesis("start", "node %d", nd.ID)
		r.restart(nd)
		r.sleep(4 * time.Second)
	}
}

func powerLossAll(r *run) {
	for i := range rounds(1, 3) {
		order := append([]*node(nil), r.c.nodes...)
		r.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		// Round 1 of the quick variant: within up to 3 s; every second
		// round of the soak: all at once.
		spread := 1500
		if i%2 == 1 {
			spread = 0
		}
		for k, nd := range order {
			if k > 0 && spread > 0 {
				r.sleep(time.Duration(r.rng.IntN(spread)) * time.Millisecond)
			}
			r.nemesis("power-loss", "node %d", nd.ID)
			nd.kill()
		}
		for _, nd := range order {
			rep, err := powerLoss(nd) // already dead: the drop only
			if err != nil {
				r.t.Fatal(err)
			}
			r.nemesis("dropped", "node %d: %s", nd.ID, rep)
		}
		r.sleep(time.Duration(1+r.rng.IntN(3)) * time.Second)
		for _, nd := range order {
			r.nemesis("start", "node %d", nd.ID)
			r.restart(nd)
		}
		if d, err := eventually(r.ctx, 40*time.Second, func() error { return r.c.fullISR(r.ctx, r.topic, r.partitions) }); err != nil {
			r.problem("full ISR not back %v after the power loss: %v", d.Round(time.Second), err)
		}
		r.sleep(3 * time.Second)
	}
}

// follower returns a seeded choice among the replicas of partition p that
// do not lead it.
func (r *run) follower(p int32) *node {
	l := r.leader(p)
	var fs []*node
	for _, nd := range r.c.nodes {
		if int32(nd.ID) != l {
			fs = append(fs, nd)
		}
	}
	return pick(r.rng, fs)
}

// stopSeeded stops nd with SIGTERM (a clean shutdown: recovery scans only
// the last segment) or SIGKILL (from the recovery point on), seeded.
func (r *run) stopSeeded(nd *node) string {
	if r.rng.IntN(2) == 0 {
		r.nemesis("term", "node %d", nd.ID)
		nd.stop(syscall.SIGTERM, 20*time.Second)
		return "SIGTERM"
	}
	r.nemesis("kill", "node %d", nd.ID)
	nd.kill()
	return "SIGKILL"
}

func bitFlipFollower(r *run) {
	r.sleep(4 * time.Second) // a few sealed segments (2 KiB each)
	for range rounds(1, 3) {
		v := r.follower(0)
		r.stopSeeded(v)
		what, err := flipBit(filepath.Join(v.Dir, fmt.Sprintf("%s-0", r.topic)), r.rng)
		if err != nil {
			r.t.Fatalf("bit flip: %v", err)
		}
		r.nemesis("bitflip", "node %d partition 0: %s", v.ID, what)
		r.nemesis("start", "node %d", v.ID)
		r.restart(v)
		if d, err := eventually(r.ctx, 40*time.Second, func() error { return r.c.fullISR(r.ctx, r.topic, r.partitions) }); err != nil {
			r.liveness("", "full ISR not back %v after restarting the corrupt follower: %v", d.Round(time.Second), err)
		}
		// The corrupt replica may now be elected: it must not serve the
		// flipped batch, nor make the others truncate.
		l := r.leader(0)
		nl := r.c.node(l)
		r.nemesis("kill", "node %d (leader of 0)", l)
		nl.kill()
		r.failover(0, l)
		r.sleep(6 * time.Second)
		r.nemesis("start", "node %d", l)
		r.restart(nl)
		r.sleep(4 * time.Second)
	}
}

func damageCheckpoints(r *run) {
	r.sleep(3 * time.Second) // a few segments, indexes and snapshots
	for range rounds(1, 3) {
		v := pick(r.rng, r.c.nodes)
		how := r.stopSeeded(v)
		done, err := damageMetadata(v.Dir, r.topic, r.rng)
		if err != nil {
			r.t.Fatalf("damage node %d: %v", v.ID, err)
		}
		r.nemesis("damage", "node %d (stopped with %s): %s", v.ID, how, strings.Join(done, "; "))
		r.nemesis("start", "node %d", v.ID)
		r.restart(v)
		if d, err := eventually(r.ctx, 40*time.Second, func() error { return r.c.fullISR(r.ctx, r.topic, r.partitions) }); err != nil {
			r.problem("full ISR not back %v after restarting the damaged node: %v", d.Round(time.Second), err)
		}
		// Let the damaged node lead: bounce the leader of partition 0.
		if l := r.leader(0); l != int32(v.ID) {
			nl := r.c.node(l)
			r.nemesis("term", "node %d (leader of 0)", l)
			nl.stop(syscall.SIGTERM, 20*time.Second)
			r.sleep(time.Second)
			r.nemesis("start", "node %d", l)
			r.restart(nl)
		}
		r.sleep(4 * time.Second)
	}
}
