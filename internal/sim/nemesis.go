package sim

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// The nemeses: each seed draws a chaos level and a schedule of faults,
// each healed by its own timer; heal ends whatever is left.

func (s *Sim) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// scheduleNemeses starts faults at random times until end.
func (s *Sim) scheduleNemeses(end time.Duration) {
	gap := []time.Duration{3 * time.Second, 1500 * time.Millisecond, 600 * time.Millisecond}[s.seed%3]
	var next func()
	next = func() {
		if s.now >= end || s.failure != "" {
			return
		}
		s.nemesis()
		s.after(s.dur(gap/4, gap*2), nil, next)
	}
	s.after(s.dur(0, gap), nil, next)
}

type nemesisKind struct {
	name   string
	weight int
}

var nemeses = []nemesisKind{
	{"crash", 6}, {"crash-all", 1}, {"isolate", 4}, {"split", 2}, {"one-way", 3},
	{"degrade", 3}, {"clock-jump", 2}, {"pause", 3}, {"isolate-leader", 3},
	{"shutdown", 3}, {"reassign", 4}, {"disk-fail", 3},
}

func (s *Sim) nemesis() {
	total := 0
	for _, k := range nemeses {
		total += k.weight
	}
	r := s.rng.IntN(total)
	kind := nemeses[len(nemeses)-1].name
	for _, k := range nemeses {
		if r -= k.weight; r < 0 {
			kind = k.name
			break
		}
	}
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	switch kind {
	case "crash":
		s.crashFor(n, s.dur(200*time.Millisecond, 5*time.Second))
	case "crash-all":
		for _, n := range s.nodes {
			s.crashFor(n, s.dur(200*time.Millisecond, 2*time.Second))
		}
	case "isolate":
		s.isolate(n, s.dur(time.Second, 6*time.Second))
	case "isolate-leader":
		ks := s.partitions()
		if mp := s.controllerPartition(ks[s.rng.IntN(len(ks))]); mp != nil && mp.Leader > 0 {
			s.isolate(s.node(mp.Leader), s.dur(time.Second, 6*time.Second))
		} else if ctl := s.activeController(); ctl != nil {
			s.isolate(ctl.n, s.dur(time.Second, 6*time.Second))
		}
	case "split":
		// A random side of at most half the nodes against the rest.
		side := map[int32]bool{}
		for range 1 + s.rng.IntN(max(1, len(s.nodes)/2)) {
			side[s.nodes[s.rng.IntN(len(s.nodes))].id] = true
		}
		d := s.dur(time.Second, 6*time.Second)
		s.logf("split %v from the rest for %v", sortedKeys(side), d)
		for _, a := range s.nodes {
			for _, b := range s.nodes {
				if side[a.id] != side[b.id] {
					s.cutFor(a.id, b.id, d)
				}
			}
		}
	case "one-way":
		m := s.nodes[s.rng.IntN(len(s.nodes))]
		if m != n {
			d := s.dur(time.Second, 6*time.Second)
			s.logf("cut %d → %d for %v", n.id, m.id, d)
			s.cutFor(n.id, m.id, d)
		}
	case "degrade":
		d := s.dur(time.Second, 5*time.Second)
		s.netc = netConfig{drop: float64(s.rng.IntN(30)) / 100, minDelay: time.Millisecond, jitter: s.dur(2*time.Millisecond, 300*time.Millisecond)}
		s.logf("network degraded for %v: drop %.2f, jitter %v", d, s.netc.drop, s.netc.jitter)
		s.after(d, nil, func() { s.netc = calmNet; s.logf("network calm") })
	case "clock-jump":
		j := s.dur(time.Second, 20*time.Second)
		n.skew += j
		n.clk.Set(epoch0.Add(s.now + n.skew))
		s.logf("clock of %d jumps %v", n.id, j)
	case "pause":
		if n.up && !n.paused {
			d := s.dur(500*time.Millisecond, 6*time.Second)
			n.paused, n.pauseEnd = true, s.now+d
			s.logf("pause %d for %v", n.id, d)
			life := n.life
			s.after(d, nil, func() {
				if n.life == life {
					s.unpause(n)
				}
			})
		}
	case "shutdown":
		// A controlled shutdown, then a restart (a rolling restart's step).
		if n.up && !n.paused && n.inc != nil && !n.inc.stopping {
			inc, down := n.inc, s.dur(200*time.Millisecond, 3*time.Second)
			inc.stopping = true
			s.logf("controlled shutdown of %d (down %v)", n.id, down)
			s.spawn("controlled shutdown", n, inc, func(t *task) result { s.controlledShutdown(t, inc, down); return result{} }, nil)
		}
	case "reassign":
		s.reassign()
	case "disk-fail":
		// The log directory fails for d: its writes (the next log write
		// or fsync takes the log, so the directory, offline), or, one
		// time in three, the reads of its segments (a leader's next read
		// for a fetch or a client does).
		if !n.diskFault {
			d := s.dur(500*time.Millisecond, 5*time.Second)
			s.failDisk(n, s.rng.IntN(3) == 0)
			s.logf("disk of %d fails (%s) for %v", n.id, diskFaultName(n), d)
			gen := n.diskGen
			s.after(d, nil, func() {
				if n.diskGen == gen {
					s.liftDiskFault(n)
				}
			})
		}
	default:
		panic(fmt.Sprintf("BUG: sim: unknown nemesis %q", kind))
	}
}

// crashFor crashes n and restarts it after d.
func (s *Sim) crashFor(n *node, d time.Duration) {
	if !n.up {
		return
	}
	s.Stats.Crashes++
	s.crash(n, s.rng.IntN(2) == 0)
	s.after(d, nil, func() { s.restart(n) })
}

// restart starts n again, unless it is up or waits for its log directory
// (awaitLogDir starts it).
func (s *Sim) restart(n *node) {
	if n.up || n.awaiting {
		return
	}
	err := s.start(n)
	switch {
	case errors.Is(err, errLogDirFailed):
		s.awaitLogDir(n, err)
	case err != nil:
		s.fail("restart %d: %v", n.id, err)
	}
}

// awaitLogDir is `kavka serve` after New failed with ErrLogDirFailed
// (server: AwaitLogDir): the process stays down, registers nothing and
// serves nothing; it probes the directory, repeating the read that failed
// (if the error names one), first after logDirSlowProbes intervals and then
// every interval, and starts again once a probe passes.
func (s *Sim) awaitLogDir(n *node, cause error) {
	n.awaiting = true
	s.Stats.LoadWaits++
	var reads []commitlog.ReadError
	if re, ok := commitlog.FailedRead(cause); ok {
		reads = append(reads, re)
	}
	s.logf("node %d: %v; probing", n.id, cause)
	life := n.life
	var probe func()
	probe = func() {
		if n.life != life || n.up {
			s.fail("BUG: sim: node %d started while it waited for its log directory", n.id)
			return
		}
		if err := commitlog.ProbeDir(s.diskView(n), dataDir, reads); err != nil {
			s.after(logDirProbeInterval, nil, probe)
			return
		}
		n.awaiting = false
		s.logf("node %d: log directory readable and writable again: loading the logs", n.id)
		s.restart(n)
	}
	s.after(logDirSlowProbes*logDirProbeInterval, nil, probe)
}

// failDisk makes n's log directory fail until liftDiskFault: the reads of
// its segments (EIO), or else its writes (EIO or ENOSPC). Each fault has
// its own generation, so that an earlier fault's timer does not lift it.
func (s *Sim) failDisk(n *node, reads bool) {
	n.diskGen++
	n.diskFault, n.diskReads, n.diskErr = true, reads, syscall.EIO
	if !reads {
		n.diskErr = []error{syscall.EIO, syscall.ENOSPC}[s.rng.IntN(2)]
	}
}

// diskFaultName describes n's disk fault for the trace.
func diskFaultName(n *node) string {
	if n.diskReads {
		return fmt.Sprintf("reads: %v", n.diskErr)
	}
	return fmt.Sprintf("writes: %v", n.diskErr)
}

func (s *Sim) liftDiskFault(n *node) {
	if n.diskFault {
		n.diskFault = false
		s.logf("disk of %d recovers", n.id)
	}
}

func (s *Sim) isolate(n *node, d time.Duration) {
	s.logf("isolate %d for %v", n.id, d)
	for _, m := range s.nodes {
		if m != n {
			s.cutFor(n.id, m.id, d)
			s.cutFor(m.id, n.id, d)
		}
	}
}

func (s *Sim) cutFor(a, b int32, d time.Duration) {
	k := [2]int32{a, b}
	s.cuts[k] = true
	s.cutGen++
	gen := s.cutGen
	s.cutEnd[k] = gen
	s.after(d, nil, func() {
		if s.cutEnd[k] == gen {
			delete(s.cuts, k)
		}
	})
}

func (s *Sim) unpause(n *node) {
	if !n.paused {
		return
	}
	n.paused = false
	s.logf("resume %d", n.id)
	s.runq = append(s.runq, n.held...)
	n.held = nil
	if n.inc != nil {
		n.inc.dirty = true
	}
}

// heal ends every fault: links back, network calm, paused nodes resumed,
// crashed nodes restarted. Clock skews stay (a jumped clock stays jumped).
func (s *Sim) heal() {
	s.logf("heal")
	clear(s.cuts)
	s.netc = calmNet
	for _, n := range s.nodes {
		s.liftDiskFault(n)
		s.unpause(n)
		s.restart(n)
	}
	s.settle()
	s.ck.ackedAfterHeal = map[tp]bool{}
}

// reassign starts, replaces or cancels the reassignment of a random
// partition (AlterPartitionReassignments from an admin client): remove a
// replica, add a broker that holds none, move one replica to such a
// broker, or cancel the one in progress. The replication factor stays
// within 2..4 (min.insync.replicas is 2).
func (s *Sim) reassign() {
	ks := s.partitions()
	k := ks[s.rng.IntN(len(ks))]
	mp := s.controllerPartition(k)
	if mp == nil {
		return
	}
	orig := slices.DeleteFunc(slices.Clone(mp.Replicas), func(r int32) bool { return slices.Contains(mp.AddingReplicas, r) })
	var spare []int32
	for _, n := range s.nodes {
		if !slices.Contains(orig, n.id) {
			spare = append(spare, n.id)
		}
	}
	var target []int32 // nil: cancel
	inProgress := len(mp.AddingReplicas) > 0 || len(mp.RemovingReplicas) > 0
	switch op := s.rng.IntN(4); {
	case inProgress && op == 0:
	case len(orig) > 2 && (len(spare) == 0 || op == 1):
		i := s.rng.IntN(len(orig))
		target = slices.Delete(slices.Clone(orig), i, i+1)
	case len(spare) > 0 && len(orig) >= rf && op >= 2:
		target = slices.Clone(orig)
		target[s.rng.IntN(len(target))] = spare[s.rng.IntN(len(spare))]
	case len(spare) > 0 && len(orig) < 4:
		target = append(slices.Clone(orig), spare[s.rng.IntN(len(spare))])
	default:
		return
	}
	if target != nil {
		s.rng.Shuffle(len(target), func(i, j int) { target[i], target[j] = target[j], target[i] })
	}
	s.Stats.Reassignments++
	s.spawn("reassign", s.client, nil, func(*task) result {
		ctl := s.activeController()
		if ctl == nil {
			return result{}
		}
		r := s.rpc(0, ctl.n.id, "reassign", s.cfg.RPCTimeout, func(reply func(result)) {
			s.storeCall(ctl, "reassign", func() result {
				res, err := ctl.meta.AlterReassignments(map[string]map[int32][]int32{k.topic: {k.part: target}})
				if err == nil {
					err = res[k.topic][k.part]
				}
				return result{err: err}
			}, reply)
		})
		s.logf("reassign %s-%d from %v (adding %v) to %v: %v", k.topic, k.part, mp.Replicas, mp.AddingReplicas, target, r.err)
		return result{}
	}, nil)
}
