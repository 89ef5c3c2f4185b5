package sim

import (
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// TestSimReadFaultHoldsLogDirOffline: the reads of a leader's segments fail
// (EIO) while writes work, as in chaos F13d. Its log directory goes
// offline; the probe's own file writes and reads back fine, but the probe
// repeats the failed read (commitlog.ProbeDir, ADR 0006 decision 7), so it
// fails and the broker does not restart while the fault holds. Crashed
// then, the broker cannot load its logs and waits, down, probing (decision
// 8). Once the fault is lifted it starts again and the cluster converges.
func TestSimReadFaultHoldsLogDirOffline(t *testing.T) {
	const seed = 11
	cryptotest.SetGlobalRandom(t, seed)
	s := New(seed, DefaultConfig())
	defer s.shutdown()
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if s.failure != "" {
			t.Fatal(s.Report())
		}
		if !ok {
			t.Fatalf(format+"\n%s", append(args, s.Report())...)
		}
	}
	for _, n := range s.nodes {
		check(s.start(n) == nil, "start %d", n.id)
	}
	check(s.runUntil(30*time.Second, s.setup), "topics not created and led within 30s")
	k := s.partitions()[0]
	ld := s.currentLeader(k)
	check(ld != nil, "%s-%d has no leader", k.topic, k.part)
	n := ld.n

	s.failDisk(n, true)
	s.logf("test: reads of node %d's segments fail", n.id)
	s.scheduleWorkload(s.now + 30*time.Second)
	check(s.runUntil(10*time.Second, func() bool { return n.inc != nil && n.inc.dirOffline }),
		"the read fault took no log of node %d offline within 10s of writes and reads", n.id)
	inc, life := n.inc, n.life
	check(len(inc.reads) > 0, "node %d's log directory went offline without a failed read recorded", n.id)
	check(commitlog.ProbeDir(inc.fs, dataDir, nil) == nil, "the probe's own file fails on node %d: the fault is not read-only", n.id)
	check(commitlog.ProbeDir(inc.fs, dataDir, inc.reads) != nil, "the probe passes on node %d while its failed read still fails", n.id)
	s.runFor(10 * logDirProbeInterval)
	check(n.life == life && n.inc == inc && inc.dirOffline,
		"node %d restarted (or its directory came back) while the reads of its segments still failed", n.id)

	// A crash now: the new process's load reads the failed segments.
	s.crash(n, false)
	s.restart(n)
	check(!n.up && n.awaiting, "node %d started on a disk whose segments cannot be read (up %v)", n.id, n.up)
	waits := s.Stats.LoadWaits
	s.runFor(3 * logDirSlowProbes * logDirProbeInterval)
	check(!n.up && n.awaiting && s.Stats.LoadWaits == waits,
		"node %d loaded its logs again while the reads of its segments still failed (%d loads failed)", n.id, s.Stats.LoadWaits-waits+1)

	s.liftDiskFault(n)
	s.workloadEnd = s.now
	check(s.runUntil(s.cfg.HealTime, func() bool { return n.up && s.converged() }),
		"no convergence within %v after the disk of node %d recovered: %s", s.cfg.HealTime, n.id, s.why)
	check(s.Stats.LoadWaits > 0 && s.Stats.LogDirFailures > 0, "stats %+v", s.Stats)
}
