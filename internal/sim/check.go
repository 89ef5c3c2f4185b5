package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/kavka-io/kavka/internal/metadata"
)

// The invariants. Checked at every step: at most one leader per (partition,
// leader epoch), in the images and among the replicas acting as leader;
// leader epochs never go back in a node's image; every node's image at a
// metadata offset is the same; a replica's high watermark never goes back
// and never passes its log end; the current leader's high watermark never
// passes the log end offset of a live member of its ISR; an offset is
// acknowledged or read below a high watermark with one value only.
// Periodically and at the end: the current leader holds every acknowledged
// or committed record at its offset (G-DUR). After the heal: every
// partition back to a full ISR, every image equal to the controller's,
// every replica byte-identical up to the high watermark (bounded: liveness).

type epochKey struct {
	k     tp
	epoch int32
}

type checker struct {
	adminStarted   bool
	nextValue      int
	seen           map[tp]map[int64]string // acknowledged or committed: offset → value
	acked          map[tp][]int64
	ackedAfterHeal map[tp]bool
	leaders        map[epochKey]string // replica acting as leader: "node/life"
	metaLeaders    map[epochKey]int32  // leader named by an image
	maxEpoch       map[tp]int32        // highest leader epoch in any image
	imageAt        map[int64]uint64    // image fingerprint at each metadata offset
	producers      map[tp]*idemProducer
	txn            txnState
	steps          int
}

func (c *checker) init() {
	c.seen = map[tp]map[int64]string{}
	c.acked = map[tp][]int64{}
	c.ackedAfterHeal = map[tp]bool{}
	c.leaders = map[epochKey]string{}
	c.metaLeaders = map[epochKey]int32{}
	c.maxEpoch = map[tp]int32{}
	c.imageAt = map[int64]uint64{}
	c.producers = map[tp]*idemProducer{}
}

// see records that offset off of k holds v (acknowledged, or read below a
// high watermark); a different value seen before is an inconsistency.
func (c *checker) see(s *Sim, k tp, off int64, v, how string) {
	m := c.seen[k]
	if m == nil {
		m = map[int64]string{}
		c.seen[k] = m
	}
	if old, ok := m[off]; ok && old != v {
		s.fail("G-DUR/G-CON: %s-%d offset %d %s as %q, earlier committed as %q", k.topic, k.part, off, how, v, old)
		return
	}
	m[off] = v
}

// fingerprint hashes what every node must agree on at one offset.
func fingerprint(im *metadata.Image) uint64 {
	h := fnv.New64a()
	for _, name := range im.TopicNames() {
		t := im.Topic(name)
		fmt.Fprintf(h, "T%s/%x", name, t.ID)
		for _, p := range t.Partitions {
			fmt.Fprintf(h, "P%d:%d:%d:%d:%v:%v", p.Index, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.Replicas, p.ISR)
		}
	}
	for _, r := range im.Registrations {
		fmt.Fprintf(h, "R%d:%d:%v:%v", r.NodeID, r.Epoch, r.Fenced, r.ShuttingDown)
	}
	return h.Sum64()
}

// checkImage runs on every image a node publishes.
func (s *Sim) checkImage(inc *incarnation, prev, next *metadata.Image) {
	c := &s.ck
	id := inc.n.id
	fp := fingerprint(next)
	if old, ok := c.imageAt[next.Offset]; ok && old != fp {
		s.fail("node %d's image at metadata offset %d differs from another node's", id, next.Offset)
	}
	c.imageAt[next.Offset] = fp
	if prev != nil && next.Offset < prev.Offset {
		s.fail("node %d's metadata offset went back from %d to %d", id, prev.Offset, next.Offset)
	}
	for _, name := range next.TopicNames() {
		t := next.Topic(name)
		for _, p := range t.Partitions {
			k := tp{name, p.Index}
			if prev != nil {
				if pt := prev.Topic(name); pt != nil && pt.ID == t.ID && int(p.Index) < len(pt.Partitions) &&
					pt.Partitions[p.Index].LeaderEpoch > p.LeaderEpoch {
					s.fail("node %d: leader epoch of %s-%d went back from %d to %d", id, name, p.Index, pt.Partitions[p.Index].LeaderEpoch, p.LeaderEpoch)
				}
			}
			if old, ok := c.maxEpoch[k]; !ok || p.LeaderEpoch > old {
				c.maxEpoch[k] = p.LeaderEpoch
				if prev != nil && p.Leader >= 0 {
					s.Stats.Elections++
				}
			}
			if p.Leader < 0 {
				continue
			}
			ek := epochKey{k, p.LeaderEpoch}
			if old, ok := c.metaLeaders[ek]; ok && old != p.Leader {
				s.fail("metadata names two leaders of %s-%d in epoch %d: %d and %d", name, p.Index, p.LeaderEpoch, old, p.Leader)
			}
			c.metaLeaders[ek] = p.Leader
		}
	}
}

// checkAlways runs after every step.
func (s *Sim) checkAlways() {
	c := &s.ck
	c.steps++
	for _, n := range s.nodes {
		inc := n.inc
		if !n.up || inc == nil {
			continue
		}
		for _, k := range sortedTPs(inc.logs) {
			p := inc.rm.Partition(k.topic, k.part)
			if p == nil {
				continue
			}
			snap := p.Snapshot()
			if last, ok := inc.lastHW[k]; ok && snap.HighWatermark < last {
				s.fail("node %d: high watermark of %s-%d went back from %d to %d (%s, epoch %d)", n.id, k.topic, k.part, last, snap.HighWatermark, snap.Role, snap.LeaderEpoch)
			}
			inc.lastHW[k] = snap.HighWatermark
			if snap.HighWatermark > snap.LogEndOffset {
				s.fail("node %d: high watermark %d of %s-%d above its log end %d", n.id, snap.HighWatermark, k.topic, k.part, snap.LogEndOffset)
			}
			if snap.Role.String() != "leader" {
				continue
			}
			who := fmt.Sprintf("%d/%d", n.id, n.life)
			ek := epochKey{k, snap.LeaderEpoch}
			if old, ok := c.leaders[ek]; ok && old != who {
				s.fail("two leaders of %s-%d in epoch %d: node/life %s and %s", k.topic, k.part, snap.LeaderEpoch, old, who)
			}
			c.leaders[ek] = who
			if snap.LeaderEpoch != c.maxEpoch[k] {
				continue // a leader that has not heard of its successor yet
			}
			cur := s.controllerPartition(k)
			if cur == nil {
				// No active controller (an election): the newest image any
				// node holds has the controller's latest ISR.
				cur = s.newestPartition(k)
			}
			for _, id := range snap.ISR {
				m := s.node(id)
				if id == n.id || !m.up || m.inc == nil || m.inc.logs[k] == nil {
					continue
				}
				if cur != nil && !slices.Contains(cur.ISR, id) {
					// Out of the ISR since (reassigned away: its log may be
					// gone), which a leader cut off has not heard of: it
					// cannot be elected.
					continue
				}
				if leo := m.inc.logs[k].LogEndOffset(); leo < snap.HighWatermark {
					s.fail("leader %d of %s-%d (epoch %d) has high watermark %d above ISR member %d's log end %d",
						n.id, k.topic, k.part, snap.LeaderEpoch, snap.HighWatermark, id, leo)
				}
			}
		}
	}
	if c.steps%200 == 0 {
		s.checkLeadersHoldCommitted()
	}
	if every := s.cfg.TxnCheckEvery; every > 0 && c.steps%every == 0 {
		s.checkTxnState()
	}
	s.checkLogDirFailover()
}

// logDirFailoverBound is how soon after a log directory fails, in a calm
// cluster, the controller has moved every leadership and ISR membership
// of its broker away: a heartbeat at once (one RPC timeout, one retry)
// and a metadata commit.
const logDirFailoverBound = 3 * time.Second

// calm reports whether no fault but disk faults is active: every node up
// and running, no cut link, a calm network.
func (s *Sim) calm() bool {
	if len(s.cuts) > 0 || s.netc != calmNet {
		return false
	}
	for _, n := range s.nodes {
		if !n.up || n.paused {
			return false
		}
	}
	return true
}

// checkLogDirFailover: a broker whose log directory failed while the
// cluster was calm, and stayed calm since, leads nothing and is in no ISR
// of more than one member in the active controller's image within
// logDirFailoverBound (ADR 0006, KIP-858).
func (s *Sim) checkLogDirFailover() {
	if !s.calm() {
		s.lastUncalm = s.now
		return
	}
	ctl := s.activeController()
	if ctl == nil {
		return
	}
	im := ctl.meta.Image()
	for _, n := range s.nodes {
		inc := n.inc
		if inc == nil || !inc.dirOffline || inc.offlineAt <= s.lastUncalm || s.now-inc.offlineAt < logDirFailoverBound {
			continue
		}
		if !inc.failoverChecked {
			inc.failoverChecked = true
			s.Stats.FailoversChecked++
		}
		for _, name := range im.TopicNames() {
			for _, p := range im.Topic(name).Partitions {
				if p.Leader == n.id || len(p.ISR) > 1 && slices.Contains(p.ISR, n.id) {
					s.fail("log-dir failure: node %d's directory offline since %v, calm since, but %s-%d still has leader %d, ISR %v",
						n.id, inc.offlineAt, name, p.Index, p.Leader, p.ISR)
					return
				}
			}
		}
	}
}

func sortedTPs[V any](m map[tp]V) []tp {
	ks := make([]tp, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b tp) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.part - b.part)
	})
	return ks
}

// currentLeader returns the incarnation acting as k's leader in the
// highest epoch any image has, or nil.
func (s *Sim) currentLeader(k tp) *incarnation {
	for _, n := range s.nodes {
		if !n.up || n.inc == nil {
			continue
		}
		if r, e := s.replicaRole(n.id, k); r == "leader" && e == s.ck.maxEpoch[k] {
			return n.inc
		}
	}
	return nil
}

// checkLeadersHoldCommitted: the current leader of every partition holds
// every acknowledged or committed record at its offset (G-DUR).
func (s *Sim) checkLeadersHoldCommitted() {
	for _, k := range s.partitions() {
		ld := s.currentLeader(k)
		if ld == nil || len(s.ck.seen[k]) == 0 {
			continue
		}
		l := ld.logs[k]
		have := s.contents(l, l.LogEndOffset())
		s.checkNoDuplicates(ld, k, have)
		for _, off := range sortedKeys(s.ck.seen[k]) {
			if v := s.ck.seen[k][off]; have[off] != v {
				s.fail("G-DUR: leader %d of %s-%d (epoch %d) has %q at offset %d, committed %q (log end %d)",
					ld.n.id, k.topic, k.part, s.ck.maxEpoch[k], have[off], off, v, l.LogEndOffset())
				return
			}
		}
	}
}

// checkNoDuplicates: an idempotent producer's batch (its values are
// unique to its producer id and sequence; retries repeat them) is in the
// leader's log below its high watermark once at most.
func (s *Sim) checkNoDuplicates(ld *incarnation, k tp, have map[int64]string) {
	hw := ld.rm.Partition(k.topic, k.part).HighWatermark()
	at := map[string]int64{}
	for _, off := range sortedKeys(have) {
		v := have[off]
		if off >= hw || !strings.Contains(v, "-q") {
			continue
		}
		if first, ok := at[v]; ok {
			s.fail("idempotence: leader %d of %s-%d holds %q at offsets %d and %d (below the high watermark %d)", ld.n.id, k.topic, k.part, v, first, off, hw)
			return
		}
		at[v] = off
	}
}

// newestPartition is partition k in the image with the highest metadata
// offset among the live nodes, or nil.
func (s *Sim) newestPartition(k tp) *metadata.Partition {
	var im *metadata.Image
	for _, n := range s.nodes {
		if n.up && n.inc != nil {
			if ni := n.inc.meta.Image(); im == nil || ni.Offset > im.Offset {
				im = ni
			}
		}
	}
	if im == nil {
		return nil
	}
	t := im.Topic(k.topic)
	if t == nil || int(k.part) >= len(t.Partitions) {
		return nil
	}
	return &t.Partitions[k.part]
}

// converged reports whether the cluster is whole again; s.why says what
// is missing.
func (s *Sim) converged() bool {
	ctl := s.activeController()
	if ctl == nil {
		s.why = "no active controller"
		return false
	}
	im := ctl.meta.Image()
	for _, n := range s.nodes {
		if !n.up || n.paused || n.inc == nil {
			s.why = fmt.Sprintf("node %d down", n.id)
			return false
		}
		if n.inc.stopping {
			// A controlled shutdown a nemesis began before the heal: the
			// node stops and restarts yet.
			s.why = fmt.Sprintf("node %d shutting down", n.id)
			return false
		}
		if off := n.inc.meta.Image().Offset; off != im.Offset {
			s.why = fmt.Sprintf("node %d's image at offset %d, the controller's at %d", n.id, off, im.Offset)
			return false
		}
		if n.inc.dirOffline {
			s.why = fmt.Sprintf("node %d's log directory offline", n.id)
			return false
		}
		if r := im.Registration(n.id); r == nil || r.Fenced {
			s.why = fmt.Sprintf("broker %d not registered and unfenced", n.id)
			return false
		}
	}
	for _, k := range s.partitions() {
		t := im.Topic(k.topic)
		if t == nil {
			s.why = "topic " + k.topic + " missing"
			return false
		}
		mp := t.Partitions[k.part]
		if len(mp.AddingReplicas) > 0 || len(mp.RemovingReplicas) > 0 {
			s.why = fmt.Sprintf("%s-%d: reassignment to %v not complete (adding %v, removing %v, ISR %v)", k.topic, k.part, mp.Replicas, mp.AddingReplicas, mp.RemovingReplicas, mp.ISR)
			return false
		}
		if mp.Leader < 0 || len(mp.ISR) != len(mp.Replicas) {
			s.why = fmt.Sprintf("%s-%d: leader %d, ISR %v of replicas %v", k.topic, k.part, mp.Leader, mp.ISR, mp.Replicas)
			return false
		}
		lp := s.node(mp.Leader).inc.rm.Partition(k.topic, k.part)
		if lp == nil {
			s.why = fmt.Sprintf("%s-%d: leader %d has no replica", k.topic, k.part, mp.Leader)
			return false
		}
		ls := lp.Snapshot()
		if ls.Role.String() != "leader" || ls.LeaderEpoch != mp.LeaderEpoch || ls.HighWatermark != ls.LogEndOffset {
			s.why = fmt.Sprintf("%s-%d: leader %d is %s in epoch %d (image %d), hw %d, log end %d; replicas: %s", k.topic, k.part, mp.Leader, ls.Role, ls.LeaderEpoch, mp.LeaderEpoch, ls.HighWatermark, ls.LogEndOffset, s.replicaStates(k, mp.Replicas))
			return false
		}
		for _, id := range mp.Replicas {
			p := s.node(id).inc.rm.Partition(k.topic, k.part)
			if p == nil {
				s.why = fmt.Sprintf("%s-%d: replica %d missing", k.topic, k.part, id)
				return false
			}
			if sn := p.Snapshot(); sn.LogEndOffset != ls.LogEndOffset || sn.HighWatermark != ls.HighWatermark {
				s.why = fmt.Sprintf("%s-%d: replica %d at log end %d hw %d, leader %d at %d", k.topic, k.part, id, sn.LogEndOffset, sn.HighWatermark, mp.Leader, ls.LogEndOffset)
				return false
			}
		}
	}
	return true
}

// finalChecks: every replica byte-identical to the leader up to the high
// watermark, and holding every committed record.
func (s *Sim) finalChecks() {
	s.checkLeadersHoldCommitted()
	im := s.activeController().meta.Image()
	for _, k := range s.partitions() {
		mp := im.Topic(k.topic).Partitions[k.part]
		ld := s.node(mp.Leader).inc
		hw := ld.rm.Partition(k.topic, k.part).HighWatermark()
		want := s.rawBytes(ld.logs[k], hw)
		for _, id := range mp.Replicas {
			got := s.rawBytes(s.node(id).inc.logs[k], hw)
			if string(got) != string(want) {
				s.fail("%s-%d: replica %d differs from leader %d below the high watermark %d (%d vs %d bytes)", k.topic, k.part, id, mp.Leader, hw, len(got), len(want))
				return
			}
		}
	}
	s.checkTxnsFinal()
}

// replicaStates describes every replica of k, for liveness failures.
func (s *Sim) replicaStates(k tp, replicas []int32) string {
	var b strings.Builder
	for _, id := range replicas {
		n := s.node(id)
		if n.inc == nil {
			fmt.Fprintf(&b, "[%d down] ", id)
			continue
		}
		if p := n.inc.rm.Partition(k.topic, k.part); p != nil {
			fmt.Fprintf(&b, "[%d %+v] ", id, p.Snapshot())
		}
	}
	return strings.TrimSpace(b.String())
}
