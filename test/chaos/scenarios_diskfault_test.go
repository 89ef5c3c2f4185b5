package chaos

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Disk faults through the broker's fault file layer (F13b, F13c): with
// faultEnv, `kavka serve` wraps its file system in vfs.Faulty and reads
// the rules from <data dir>.faults every 100 ms (cmd/kavka/faultfs.go,
// KAVKA_TEST_FAULT_FILE). Unlike F13's file size limit these hit chosen
// operations of chosen files: a failed fsync, an EIO on read.
func init() {
	register(
		scenario{id: "F13b", fault: "fsync fails (EIO) on the leader of partition 0 for 10 s (the topic's segments and the log dir probe)",
			partitions: 2, env: faultEnv, nemesis: fsyncFailLeader},
		scenario{id: "F13c", fault: "reads of partition 0's segments fail (EIO) on its leader for 10 s (the log dir probe fails too)",
			partitions: 2, env: faultEnv, nemesis: readFailLeader(true)},
		scenario{id: "F13d", fault: "reads of partition 0's segments fail (EIO) on its leader for 10 s; the log dir probe's own file reads and writes fine",
			partitions: 2, env: faultEnv, nemesis: readFailLeader(false)},
	)
}

// faultEnv turns on the fault file hook of every node.
var faultEnv = []string{"KAVKA_TEST_FAULT_FILE={dir}.faults"}

// probeRe matches the file the broker probes a failed log dir with
// (internal/server/logdir.go).
const probeRe = `\.kavka-log-dir-probe`

// setFaults replaces nd's fault rules (written atomically; "" lifts all).
func setFaults(r *run, nd *node, rules string) {
	tmp := nd.Dir + ".faults.tmp"
	if err := os.WriteFile(tmp, []byte(rules), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, nd.Dir+".faults"); err != nil {
		r.t.Fatal(err)
	}
}

// diskFault runs one disk fault on the leader of partition 0: rules on
// for hold, then lifted. The leader must lose the partition while the
// fault holds (its log dir offline, ADR 0006), and re-execute itself once
// it is lifted (checked in its log); the run's final checks want it back
// in every ISR.
//
// known names an open bug that makes these liveness checks fail at times:
// they are then logged, not failed, unless KAVKA_CHAOS_STRICT is set.
func diskFault(r *run, what, known string, rules func(topic string) string, hold time.Duration) {
	l := r.leader(0)
	nd := r.c.node(l)
	before := len(nd.log.String())
	restarts := strings.Count(nd.log.String(), "re-executing the broker")
	r.nemesis("disk", "node %d (leader of 0): %s", l, what)
	setFaults(r, nd, rules(r.topic))
	start := time.Now()
	r.failover(0, l)
	if d, err := eventually(r.ctx, hold, func() error {
		if nl, err := r.c.leader(r.ctx, r.topic, 0); err != nil || nl == l {
			return fmt.Errorf("leader %d: %v", nl, err)
		}
		return nil
	}); err != nil {
		r.liveness(known, "partition 0 still led by node %d %v into the fault: %v", l, d.Round(time.Second), err)
	}
	r.sleep(hold - time.Since(start))
	lg := nd.log.String()
	if len(lg) < before {
		before = 0
	}
	offline := strings.Contains(lg[before:], "log offline")
	switch {
	case !offline:
		r.liveness(known, "node %d: no log went offline under the fault", l)
	case strings.Contains(lg[before:], "corrupt batch"):
		r.note(fmt.Sprintf("node %d took the I/O error for a corrupt batch (marker written)", l))
	}
	if n := strings.Count(lg, "re-executing the broker"); n > restarts {
		// The probe passed while the fault held: the new process can
		// only fail to recover, or serve from a failing disk.
		r.liveness(known, "node %d re-executed %d times while the fault held", l, n-restarts)
	}
	r.nemesis("disk", "node %d: faults lifted", l)
	setFaults(r, nd, "")
	if !offline {
		return // nothing to recover; the run's final checks want a full ISR
	}
	if d, err := eventually(r.ctx, 30*time.Second, func() error {
		if n := strings.Count(nd.log.String(), "re-executing the broker"); n <= restarts {
			return fmt.Errorf("not re-executed")
		}
		return r.c.fullISR(r.ctx, r.topic, r.partitions)
	}); err != nil {
		r.liveness(known, "node %d not re-executed and back in every ISR %v after the faults were lifted: %v", l, d.Round(time.Second), err)
	} else {
		r.maxNote("re-exec and full ISR after the lift", d)
	}
}

func fsyncFailLeader(r *run) {
	for range rounds(1, 3) {
		diskFault(r, "fsync fails with EIO", "", func(topic string) string {
			return fmt.Sprintf("sync EIO (/%s-[0-9]+/|%s)\n", topic, probeRe)
		}, map[bool]time.Duration{false: 10 * time.Second, true: 30 * time.Second}[*soak])
		r.sleep(3 * time.Second)
	}
}

// readFailLeader fails the reads of partition 0's segment files on its
// leader. With probeFails the log dir probe's own file fails too (a failing
// disk); without, only the probe's re-read of the failed segment bytes
// (ADR 0006, 2026-11-27) sees the fault. Either way the broker must
// re-execute only after the lift, and come back.
func readFailLeader(probeFails bool) func(r *run) {
	return func(r *run) {
		for range rounds(1, 3) {
			diskFault(r, "reads of partition 0's segments fail with EIO", "", func(topic string) string {
				rules := fmt.Sprintf("read EIO /%s-0/.*\\.log$\n", topic)
				if probeFails {
					rules += "all EIO " + probeRe + "\n"
				}
				return rules
			}, map[bool]time.Duration{false: 10 * time.Second, true: 30 * time.Second}[*soak])
			r.sleep(3 * time.Second)
		}
	}
}
