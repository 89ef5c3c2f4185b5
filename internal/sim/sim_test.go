package sim

import (
	"cmp"
	"flag"
	"os"
	"strconv"
	"testing"
	"testing/cryptotest"
	"time"
)

var (
	flagSeed     = flag.Uint64("sim.seed", 0, "run only this seed (replay)")
	flagSeeds    = flag.Int("sim.seeds", 0, "number of seeds to run (default: defaultSeeds, or KAVKA_SIM_SEEDS)")
	flagFirst    = flag.Uint64("sim.first", 1, "first seed of a -sim.seeds run")
	flagTxnCheck = flag.Int("sim.txncheck", 0, "steps between checks of the transaction state (default 500; 1 pins the step a replay goes wrong at)")
)

// seeds returns the seeds to run: -sim.seed alone, or -sim.seeds (else
// KAVKA_SIM_SEEDS, else defaultSeeds) of them from -sim.first.
func seeds(t *testing.T) []uint64 {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}
	}
	n := *flagSeeds
	if n == 0 {
		if v, err := strconv.Atoi(os.Getenv("KAVKA_SIM_SEEDS")); err == nil && v > 0 {
			n = v
		}
	}
	if n == 0 {
		n = defaultSeeds
		if testing.Short() {
			n = max(1, n/5)
		}
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = *flagFirst + uint64(i)
	}
	return out
}

// runSeed runs one seed; crypto/rand (etcd raft's election jitter, the raft
// driver's request numbers) is made deterministic for it.
func runSeed(t *testing.T, seed uint64, cfg Config) *Sim {
	var s *Sim
	t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
		cryptotest.SetGlobalRandom(t, seed)
		s = New(seed, cfg)
		if f := s.Run(); f != "" {
			t.Fatal(s.Report())
		}
	})
	return s
}

// configFor varies the cluster with the seed: every fourth seed adds a
// broker-only node (a raft learner), every other one ends with a disk
// failure in the calm cluster.
func configFor(seed uint64) Config {
	cfg := DefaultConfig()
	if seed%4 == 3 {
		cfg.Learners = 1
	}
	cfg.CalmDiskFailure = seed%2 == 0
	cfg.TxnCheckEvery = cmp.Or(*flagTxnCheck, cfg.TxnCheckEvery)
	return cfg
}

// TestSim runs the seeded simulation: controllers, brokers and replicas
// under crashes (with loss of un-fsynced data), partitions, message loss,
// delay and reordering, clock jumps and pauses, checking the invariants of
// check.go. Not parallel: crypto/rand is replaced per seed.
func TestSim(t *testing.T) {
	start := time.Now()
	var total Stats
	ss := seeds(t)
	for _, seed := range ss {
		s := runSeed(t, seed, configFor(seed))
		if t.Failed() {
			return
		}
		total.Events += s.Stats.Events
		total.Acked += s.Stats.Acked
		total.Produced += s.Stats.Produced
		total.Reads += s.Stats.Reads
		total.Crashes += s.Stats.Crashes
		total.Elections += s.Stats.Elections
		total.ControlledShutdowns += s.Stats.ControlledShutdowns
		total.Reassignments += s.Stats.Reassignments
		total.LogDirFailures += s.Stats.LogDirFailures
		total.IdempotentAcked += s.Stats.IdempotentAcked
		total.Duplicates += s.Stats.Duplicates
		total.FailoversChecked += s.Stats.FailoversChecked
		total.LoadWaits += s.Stats.LoadWaits
		total.TxnAcked += s.Stats.TxnAcked
		total.TxnCommitted += s.Stats.TxnCommitted
		total.TxnAborted += s.Stats.TxnAborted
		total.TxnEpochBumps += s.Stats.TxnEpochBumps
		total.TxnReads += s.Stats.TxnReads
	}
	if total.Acked == 0 {
		t.Fatal("no write was ever acknowledged: the simulation makes no progress")
	}
	if len(ss) >= 20 && (total.TxnCommitted == 0 || total.TxnAborted == 0) {
		t.Fatalf("transactions: %d committed, %d aborted: the transactional workload makes no progress", total.TxnCommitted, total.TxnAborted)
	}
	t.Logf("%d seeds in %v: %+v", len(ss), time.Since(start).Round(time.Millisecond), total)
}

// TestSimReplays: a seed run twice gives the same trace.
func TestSimReplays(t *testing.T) {
	const seed = 7
	a := runSeed(t, seed, configFor(seed))
	b := runSeed(t, seed, configFor(seed))
	if a == nil || b == nil || t.Failed() {
		return
	}
	if a.Stats != b.Stats {
		t.Fatalf("seed %d: two runs differ: %+v vs %+v", seed, a.Stats, b.Stats)
	}
	ta, tb := a.Trace(), b.Trace()
	for i := range min(len(ta), len(tb)) {
		if ta[i] != tb[i] {
			t.Fatalf("seed %d: traces differ at line %d:\n  %s\n  %s", seed, i, ta[i], tb[i])
		}
	}
}
