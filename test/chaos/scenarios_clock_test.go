package chaos

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// clockEnv turns on the broker's clock test hook (internal/clock,
// KAVKA_TEST_CLOCK_FILE): each node's wall clock is moved by the offset in
// <data dir>.clock, re-read every 100 ms. Timers, tickers and raft ticks
// stay on the monotonic clock, as with a real wall-clock jump.
var clockEnv = []string{"KAVKA_TEST_CLOCK_FILE={dir}.clock"}

// maxSkew is the largest clock offset the nemeses set.
const maxSkew = 10 * time.Minute

func init() {
	register(scenario{id: "F14", fault: "clock: ±10 min skew, jumps and strobe on single brokers and the active controller; retention.ms 13 min (txn side workload)",
		partitions: 3, env: clockEnv, props: txnProps, side: txnSide(nil), nemesis: clockNemesis})
}

// setSkew moves nd's wall clock to real time + d (written atomically).
func setSkew(r *run, nd *node, d time.Duration) {
	tmp := nd.Dir + ".clock.tmp"
	if err := os.WriteFile(tmp, []byte(d.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, nd.Dir+".clock"); err != nil {
		r.t.Fatal(err)
	}
}

func skewNemesis(r *run, nd *node, d time.Duration, why string) {
	r.nemesis("clock", "node %d %+v%s", nd.ID, d, why)
	setSkew(r, nd, d)
}

// resetClocks sets every node's clock back to real time.
func resetClocks(r *run) {
	r.nemesis("clock", "every node back to real time")
	for _, nd := range r.c.nodes {
		setSkew(r, nd, 0)
	}
}

// randSkew is a seeded offset of 1..maxSkew minutes, either sign.
func randSkew(r *run) time.Duration {
	d := time.Duration(1+r.rng.IntN(int(maxSkew/time.Minute))) * time.Minute
	if r.rng.IntN(2) == 0 {
		d = -d
	}
	return d
}

// strobe flips nd's clock between +d and -d every 100-300 ms for dur.
func strobe(r *run, nd *node, d, dur time.Duration) {
	r.nemesis("clock", "node %d strobes ±%v for %v", nd.ID, d, dur)
	end := time.Now().Add(dur)
	for sign := time.Duration(1); time.Now().Before(end) && r.ctx.Err() == nil; sign = -sign {
		setSkew(r, nd, sign*d)
		r.sleep(time.Duration(100+r.rng.IntN(200)) * time.Millisecond)
	}
	setSkew(r, nd, 0)
}

// retentionFor sets retention.ms on the chaos topic to what no record may
// reach during the run on any node's clock (maxSkew + the run's length), and
// small segments that roll by size and time, so that retention has closed
// segments to judge.
func retentionFor(r *run) {
	ret := maxSkew + 3*time.Minute
	if *soak {
		ret = maxSkew + 25*time.Minute
	}
	set := func(k, v string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: ptr(v)}
	}
	r.nemesis("config", "%s retention.ms=%d segment.bytes=16384 segment.ms=3000", r.topic, ret.Milliseconds())
	if _, err := eventually(r.ctx, 30*time.Second, func() error {
		cl, err := r.c.freshClient()
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{
			set("retention.ms", fmt.Sprint(ret.Milliseconds())), set("segment.bytes", "16384"), set("segment.ms", "3000"),
		}, r.topic)
		if err != nil {
			return err
		}
		for _, c := range resp {
			if c.Err != nil {
				return fmt.Errorf("%s: %w", c.Name, c.Err)
			}
		}
		return nil
	}); err != nil {
		r.problem("alter configs of %s: %v", r.topic, err)
	}
}

// checkStartOffsets reports a partition whose log start offset moved:
// nothing in the chaos topic is older than retention.ms, so nothing may go.
func checkStartOffsets(r *run) {
	cl, err := r.c.freshClient()
	if err != nil {
		r.problem("client: %v", err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	so, err := kadm.NewClient(cl).ListStartOffsets(ctx, r.topic)
	if err == nil {
		err = so.Error()
	}
	if err != nil {
		r.note(fmt.Sprintf("start offsets: %v", err))
		return
	}
	so.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			r.problem("spurious retention: %s/%d starts at %d (retention.ms not reached on any clock)", o.Topic, o.Partition, o.Offset)
		}
	})
}

func clockCtl(r *run) *node {
	var ctl int32
	if _, err := eventually(r.ctx, 20*time.Second, func() (err error) { ctl, err = r.c.activeController(r.ctx); return err }); err != nil {
		r.t.Fatalf("active controller: %v", err)
	}
	return r.c.node(ctl)
}

func clockNemesis(r *run) {
	retentionFor(r)
	rounds := 1
	if *soak {
		rounds = 4
	}
	for range rounds {
		// Static skew: partition 0's leader far in the future, another
		// node in the past.
		l := r.c.node(r.leader(0))
		skewNemesis(r, l, maxSkew, " (leader of 0)")
		other := pick(r.rng, r.c.nodes)
		if other != l {
			skewNemesis(r, other, -time.Duration(1+r.rng.IntN(int(maxSkew/time.Minute)))*time.Minute, "")
		}
		r.sleep(6 * time.Second)
		resetClocks(r)
		// Jumps on the active controller, there and back.
		ctl := clockCtl(r)
		skewNemesis(r, ctl, randSkew(r), " (active controller)")
		r.sleep(4 * time.Second)
		skewNemesis(r, ctl, randSkew(r), " (active controller)")
		r.sleep(3 * time.Second)
		setSkew(r, ctl, 0)
		// Strobe on one node.
		strobe(r, pick(r.rng, r.c.nodes), randSkew(r).Abs(), 5*time.Second)
		resetClocks(r)
		r.sleep(2 * time.Second)
	}
	checkStartOffsets(r)
}
