package sim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
)

// The transactional workload (docs/reliability.md, F19: a committed
// transaction lost one of its records). It exercises the partition-level
// machinery of transactions — transactional batches, markers, producer
// state on leaders and followers, the last stable offset, the
// aborted-transactions index — without the transaction coordinator: the
// producer task is its own coordinator.
//
// Per topic, one transactional producer (producer id 2000+topic) runs
// transactions over the topic's partitions: 1–3 transactional batches,
// each to a random partition (added to the transaction before it is sent,
// as AddPartitionsToTxn), retried with the same sequence to whichever
// broker leads until acknowledged (txnBatchTimeout at most; then the
// transaction aborts with an epoch bump, as a producer with an abortable
// error and unresolved sequences does). Then the coordinator decides
// (commit 3:1, seeded) and writes the marker to every partition of the
// transaction through the leader-append path of WriteTxnMarkers (handler
// 27_write_txn_markers.go: AppendWith with acks=-1, AppendMarker, fsync,
// wait for the high watermark), retried until a leader acknowledges it;
// the next transaction begins only after every marker is acknowledged.
// One abort in six bumps the epoch (InitProducerId after a timeout): the
// abort markers carry the new epoch and sequences restart at 0.
//
// Checks: every 500 steps (Config.TxnCheckEvery), on every live replica, the aborted-transactions
// index and the last stable offset agree with a scan of the replica's own
// log (checkTxnState); reads during the run emulate a read_committed
// consumer on a leader (no value of an aborted or undecided transaction
// visible, every committed one below the last stable offset); at the end, on every replica: the read_committed view holds
// every acknowledged batch of every committed transaction once and nothing
// of an aborted one, every acknowledged marker is in the log, the last
// stable offset equals the high watermark, and the replicas' aborted
// indexes agree (checkTxnsFinal).

const (
	txnBatchTimeout   = 15 * time.Second // a batch not acknowledged by then aborts its transaction
	maxMarkerAttempts = 600              // about a minute of retries per marker
)

type txnOutcome int8

const (
	txnOpen txnOutcome = iota
	txnCommit
	txnAbort
)

func (o txnOutcome) String() string {
	return [...]string{"open", "commit", "abort"}[o]
}

// txnBatch is one transactional batch and, once acknowledged, where.
type txnBatch struct {
	k      tp
	seq    int32
	values []string
	acked  bool
	first  int64 // offset of values[0]
	leader int32
	epoch  int32 // leader epoch of the acknowledgement
}

// txnMarker is an acknowledged marker.
type txnMarker struct {
	k      tp
	offset int64
	leader int32
	epoch  int32
}

// txnRecord is one transaction as its producer and coordinator saw it.
type txnRecord struct {
	pid         int64
	epoch       int16 // of its batches
	markerEpoch int16 // of its markers (epoch+1 after a bump)
	n           int   // the producer's transaction number
	outcome     txnOutcome
	parts       []tp // added to the transaction, in order
	batches     []*txnBatch
	markers     []txnMarker
}

func (tx *txnRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "txn %d of producer %d epoch %d: %s (marker epoch %d); batches:", tx.n, tx.pid, tx.epoch, tx.outcome, tx.markerEpoch)
	for _, bt := range tx.batches {
		if bt.acked {
			fmt.Fprintf(&b, " [%s-%d seq %d offsets %d..%d acked by %d epoch %d]", bt.k.topic, bt.k.part, bt.seq, bt.first, bt.first+int64(len(bt.values))-1, bt.leader, bt.epoch)
		} else {
			fmt.Fprintf(&b, " [%s-%d seq %d not acked]", bt.k.topic, bt.k.part, bt.seq)
		}
	}
	b.WriteString("; markers:")
	for _, m := range tx.markers {
		fmt.Fprintf(&b, " [%s-%d at %d acked by %d epoch %d]", m.k.topic, m.k.part, m.offset, m.leader, m.epoch)
	}
	return b.String()
}

// txnProducer is one transactional producer and its coordinator.
type txnProducer struct {
	id      int64
	parts   []tp
	epoch   int16
	seq     map[tp]int32
	running bool
	stuck   string // a marker never acknowledged: the transaction stays open
	txns    []*txnRecord
}

// txnState is the checker's view of the transactional workload.
type txnState struct {
	producers []*txnProducer
	valueTxn  map[string]*txnRecord // every value sent → its transaction
}

// startTxnProducers starts each topic's transactional producer unless it
// runs.
func (s *Sim) startTxnProducers() {
	c := &s.ck.txn
	if c.valueTxn == nil {
		c.valueTxn = map[string]*txnRecord{}
	}
	for i := range s.cfg.Topics {
		if i == len(c.producers) {
			pr := &txnProducer{id: 2000 + int64(i), seq: map[tp]int32{}}
			for p := range s.cfg.Partitions {
				pr.parts = append(pr.parts, tp{topicName(i), int32(p)})
			}
			c.producers = append(c.producers, pr)
		}
		pr := c.producers[i]
		if pr.running || pr.stuck != "" {
			continue
		}
		pr.running = true
		s.spawn("txn producer", s.client, nil, func(t *task) result {
			defer func() { pr.running = false }()
			s.runTxnProducer(t, pr)
			return result{}
		}, nil)
	}
}

// runTxnProducer runs transactions until the workload ends; the last one
// is always finished (its markers acknowledged), as a coordinator does.
func (s *Sim) runTxnProducer(t *task, pr *txnProducer) {
	for !t.dead && s.failure == "" && s.now < s.workloadEnd {
		tx := &txnRecord{pid: pr.id, epoch: pr.epoch, markerEpoch: pr.epoch, n: len(pr.txns)}
		pr.txns = append(pr.txns, tx)
		ok := true
		for range 1 + s.rng.IntN(3) {
			k := pr.parts[s.rng.IntN(len(pr.parts))]
			if !slices.Contains(tx.parts, k) {
				tx.parts = append(tx.parts, k) // AddPartitionsToTxn, before the send
			}
			b := &txnBatch{k: k, seq: pr.seq[k]}
			for range 1 + s.rng.IntN(3) {
				s.ck.nextValue++
				v := fmt.Sprintf("s%d-x%d-e%d-t%d-q%d-v%d", s.seed, pr.id, tx.epoch, tx.n, b.seq, s.ck.nextValue)
				b.values = append(b.values, v)
				s.ck.txn.valueTxn[v] = tx
			}
			tx.batches = append(tx.batches, b)
			if !s.txnProduce(t, tx, b) {
				ok = false
				break
			}
			pr.seq[k] += int32(len(b.values))
		}
		if t.dead || s.failure != "" {
			return
		}
		tx.outcome = txnAbort
		if ok && s.rng.IntN(4) != 0 {
			tx.outcome = txnCommit
		}
		if tx.outcome == txnAbort && (!ok || s.rng.IntN(6) == 0) {
			// InitProducerId after a timeout, or an abortable error with
			// unresolved sequences: the abort carries the bumped epoch and
			// sequences restart.
			pr.epoch++
			tx.markerEpoch = pr.epoch
			clear(pr.seq)
			s.Stats.TxnEpochBumps++
		}
		s.logf("producer %d decides %s of txn %d (epoch %d, markers in epoch %d) on %v", pr.id, tx.outcome, tx.n, tx.epoch, tx.markerEpoch, tx.parts)
		if !s.writeMarkers(t, pr, tx) {
			return
		}
		if tx.outcome == txnCommit {
			s.Stats.TxnCommitted++
		} else {
			s.Stats.TxnAborted++
		}
		_ = s.sleep(time.Duration(50+s.rng.IntN(100)) * time.Millisecond)
	}
}

// txnProduce sends one transactional batch to the leader a random live
// broker's metadata names, retried with the same sequence after any error
// or lost answer, for txnBatchTimeout at most. It reports whether the
// batch was acknowledged.
func (s *Sim) txnProduce(t *task, tx *txnRecord, b *txnBatch) bool {
	deadline := s.now + txnBatchTimeout
	for !t.dead && s.failure == "" && s.now < deadline {
		leader := s.leaderFor(b.k)
		if leader < 0 {
			_ = s.sleep(100 * time.Millisecond)
			continue
		}
		pb := producerBatch{id: tx.pid, epoch: tx.epoch, seq: b.seq, txn: true}
		s.Stats.Produced++
		r := s.rpc(0, leader, "txn produce", s.cfg.RequestTimeout+s.cfg.RPCTimeout, func(reply func(result)) {
			inc := s.node(leader).inc
			s.spawn("produce", inc.n, inc, func(*task) result { return s.produceOn(inc, b.k, pb, b.values) }, reply)
		})
		if r.err != nil {
			_ = s.sleep(100 * time.Millisecond)
			continue
		}
		a := r.val.(ack)
		b.acked, b.first, b.leader, b.epoch = true, a.first, leader, a.epoch
		s.Stats.TxnAcked++
		s.onAck(b.k, leader, r)
		return true
	}
	return false
}

// writeMarkers writes tx's marker to each of its partitions, one after
// the other, each retried until a leader acknowledges it. It reports
// false (the producer is stuck) if one never is.
func (s *Sim) writeMarkers(t *task, pr *txnProducer, tx *txnRecord) bool {
	for _, k := range tx.parts {
		acked := false
		for i := 0; i < maxMarkerAttempts && !t.dead && s.failure == ""; i++ {
			leader := s.leaderFor(k)
			if leader < 0 {
				_ = s.sleep(100 * time.Millisecond)
				continue
			}
			r := s.rpc(0, leader, "write txn marker", s.cfg.RequestTimeout+s.cfg.RPCTimeout, func(reply func(result)) {
				inc := s.node(leader).inc
				s.spawn("write txn marker", inc.n, inc, func(*task) result { return s.markerOn(inc, k, tx) }, reply)
			})
			if r.err != nil {
				_ = s.sleep(100 * time.Millisecond)
				continue
			}
			m := r.val.(txnMarker)
			m.leader = leader
			tx.markers = append(tx.markers, m)
			s.logf("marker of producer %d txn %d (%s) on %s-%d at %d acked by %d epoch %d", tx.pid, tx.n, tx.outcome, k.topic, k.part, m.offset, leader, m.epoch)
			acked = true
			break
		}
		if !acked {
			if !t.dead && s.failure == "" {
				pr.stuck = fmt.Sprintf("the %s marker of producer %d's txn %d on %s-%d was not acknowledged after %d attempts", tx.outcome, tx.pid, tx.n, k.topic, k.part, maxMarkerAttempts)
			}
			return false
		}
	}
	return true
}

// markerOn is the leader's part of WriteTxnMarkers (handler
// 27_write_txn_markers.go): append the marker in the leader epoch through
// the leader-append path with acks=-1, fsync, wait for the high watermark.
func (s *Sim) markerOn(inc *incarnation, k tp, tx *txnRecord) result {
	p := inc.rm.Partition(k.topic, k.part)
	if p == nil {
		return result{err: errors.New("unknown partition")}
	}
	var res commitlog.AppendResult
	epoch, err := p.AppendWith(-1, minISR, func(e int32) (err error) {
		res, err = p.Log().AppendMarker(commitlog.MarkerAppend{
			ProducerID: tx.pid, ProducerEpoch: tx.markerEpoch, Commit: tx.outcome == txnCommit, LeaderEpoch: e,
		})
		return err
	})
	if err != nil {
		s.logf("node %d: %s marker of producer %d/%d on %s-%d: %v", inc.n.id, tx.outcome, tx.pid, tx.markerEpoch, k.topic, k.part, err)
		return result{err: err}
	}
	s.logf("node %d appends %s marker of producer %d/%d (txn %d) to %s-%d at %d in epoch %d", inc.n.id, tx.outcome, tx.pid, tx.markerEpoch, tx.n, k.topic, k.part, res.FirstOffset, epoch)
	if r := s.awaitCommitted(inc, p, k, epoch, res.LastOffset); r.err != nil {
		return r
	}
	return result{val: txnMarker{k: k, offset: res.FirstOffset, epoch: epoch}}
}

// txnIdle reports whether no transactional producer runs.
func (s *Sim) txnIdle() bool {
	for _, pr := range s.ck.txn.producers {
		if pr.running {
			return false
		}
	}
	return true
}

// settleTxns waits, after the workload's end, until every transactional
// producer finished its last transaction, then for convergence again.
func (s *Sim) settleTxns() {
	if !s.runUntil(s.cfg.HealTime, s.txnIdle) {
		s.fail("liveness: transactional producers still running %v after the workload's end", s.cfg.HealTime)
		return
	}
	for _, pr := range s.ck.txn.producers {
		if pr.stuck != "" {
			s.fail("liveness: %s", pr.stuck)
			return
		}
	}
	if !s.runUntil(s.cfg.HealTime, s.converged) {
		s.fail("liveness: no convergence within %v after the transactions ended: %s", s.cfg.HealTime, s.why)
	}
}

// --- what a log holds ------------------------------------------------------

// logBatch is one batch of a log, as the checks see it.
type logBatch struct {
	base, last int64
	pid        int64
	epoch      int16
	txn        bool
	control    bool
	abort      bool // control: an abort marker
	leaderEp   int32
	values     []string // data batches: the record values, by offset delta
}

func (b logBatch) String() string {
	switch {
	case b.control && b.abort:
		return fmt.Sprintf("%d:ABORT(%d/%d le%d)", b.base, b.pid, b.epoch, b.leaderEp)
	case b.control:
		return fmt.Sprintf("%d:COMMIT(%d/%d le%d)", b.base, b.pid, b.epoch, b.leaderEp)
	case b.txn:
		return fmt.Sprintf("%d..%d:txn(%d/%d le%d)", b.base, b.last, b.pid, b.epoch, b.leaderEp)
	}
	return fmt.Sprintf("%d..%d", b.base, b.last)
}

// batchesOf parses a log's raw batches.
func (s *Sim) batchesOf(raw []byte) []logBatch {
	var out []logBatch
	it := record.NewBatches(raw)
	for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
		lb := logBatch{base: h.BaseOffset, last: h.LastOffset(), pid: h.ProducerID, epoch: h.ProducerEpoch,
			txn: h.Transactional(), control: h.Control(), leaderEp: h.PartitionLeaderEpoch}
		recs, err := record.DecodeRecords(batch, 1<<20)
		if err != nil {
			s.fail("decode batch at %d: %v", h.BaseOffset, err)
			return out
		}
		if lb.control {
			if len(recs) > 0 {
				typ, _ := record.ParseControlRecord(recs[0].Key)
				lb.abort = typ == record.ControlAbort
			}
		} else {
			for _, r := range recs {
				lb.values = append(lb.values, string(r.Value))
			}
		}
		out = append(out, lb)
	}
	return out
}

// scanTxns replays batches as the producer state should: a producer's
// transactional batch opens its transaction if none is open, a marker
// closes it, an abort that closed one is an aborted transaction. It
// returns the aborted transactions (by first offset) and the first
// offsets of the transactions left open, by producer.
func scanTxns(bs []logBatch) (aborted []commitlog.AbortedTxn, open map[int64]int64) {
	open = map[int64]int64{}
	for _, b := range bs {
		if b.pid < 0 {
			continue
		}
		if !b.control {
			if _, ok := open[b.pid]; b.txn && !ok {
				open[b.pid] = b.base
			}
			continue
		}
		first, ok := open[b.pid]
		delete(open, b.pid)
		if ok && b.abort {
			aborted = append(aborted, commitlog.AbortedTxn{ProducerID: b.pid, FirstOffset: first, LastOffset: b.base})
		}
	}
	slices.SortStableFunc(aborted, func(a, b commitlog.AbortedTxn) int { return int(a.FirstOffset - b.FirstOffset) })
	return aborted, open
}

// sameAborted compares aborted-transaction lists by producer and offsets
// (the recorded last stable offset is the appender's, and may differ).
func sameAborted(a, b []commitlog.AbortedTxn) bool {
	return slices.EqualFunc(a, b, func(x, y commitlog.AbortedTxn) bool {
		return x.ProducerID == y.ProducerID && x.FirstOffset == y.FirstOffset && x.LastOffset == y.LastOffset
	})
}

func fmtAborted(a []commitlog.AbortedTxn) string {
	var b strings.Builder
	b.WriteString("[")
	for i, x := range a {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d:%d..%d", x.ProducerID, x.FirstOffset, x.LastOffset)
	}
	b.WriteString("]")
	return b.String()
}

// txnBatchesOf lists the transactional batches and markers of bs (the
// plain and idempotent ones are left out), for failure reports.
func txnBatchesOf(bs []logBatch) string {
	var parts []string
	for _, b := range bs {
		if b.txn {
			parts = append(parts, b.String())
		}
	}
	return strings.Join(parts, " ")
}

// producersOf describes a log's producer state, for failure reports.
func producersOf(l *commitlog.Log) string {
	ps, err := l.Producers()
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "[pid %d epoch %d lastSeq %d coordEpoch %d txnStart %d] ", p.ProducerID, p.ProducerEpoch, p.LastSequence, p.CoordinatorEpoch, p.CurrentTxnStartOffset)
	}
	return strings.TrimSpace(b.String())
}

// readCommitted emulates a read_committed consumer from the log's start
// to lso: fetches of 1–4 batches, each answered with
// Log.AbortedTransactions(fetch offset, lso) as the Fetch handler does
// (01_fetch.go), filtered as franz-go does (kgo source.go: aborter): a
// producer's transactional batches are skipped from an aborted
// transaction's first offset on, until that producer's next abort marker;
// control batches are never returned. It returns offset → value.
func (s *Sim) readCommitted(l *commitlog.Log, bs []logBatch, lso int64) (map[int64]string, error) {
	out := map[int64]string{}
	for i := 0; i < len(bs) && bs[i].last < lso; {
		n := 1 + s.rng.IntN(4)
		ab, err := l.AbortedTransactions(bs[i].base, lso)
		if err != nil {
			return nil, err
		}
		aborter := map[int64][]int64{}
		for _, a := range ab {
			aborter[a.ProducerID] = append(aborter[a.ProducerID], a.FirstOffset)
		}
		for pid := range aborter {
			slices.Sort(aborter[pid])
		}
		for end := min(i+n, len(bs)); i < end && bs[i].last < lso; i++ {
			b := bs[i]
			skip := false
			if b.txn {
				if pa := aborter[b.pid]; len(pa) > 0 && b.base >= pa[0] {
					skip = true
				}
			}
			if b.control {
				if skip && b.abort {
					aborter[b.pid] = aborter[b.pid][1:]
				}
				continue
			}
			if skip {
				continue
			}
			for d, v := range b.values {
				out[b.base+int64(d)] = v
			}
		}
	}
	return out, nil
}

// --- checks ----------------------------------------------------------------

// checkTxnState, on every live replica whose log is online: the
// aborted-transactions index and the last stable offset agree with a scan
// of the replica's own log (the leading hypothesis of F19: a replica whose
// producer state missed a commit marker, so that a later abort of the
// producer covers the committed records).
func (s *Sim) checkTxnState() {
	for _, n := range s.nodes {
		inc := n.inc
		if !n.up || inc == nil || inc.loading {
			continue
		}
		for _, k := range sortedTPs(inc.logs) {
			l := inc.logs[k]
			if l.Offline() {
				continue
			}
			s.checkTxnLog(fmt.Sprintf("node %d", n.id), k, l)
			if s.failure != "" {
				return
			}
		}
	}
}

// checkTxnLog checks one log's aborted index and last stable offset
// against a scan of its batches.
func (s *Sim) checkTxnLog(who string, k tp, l *commitlog.Log) {
	leo := l.LogEndOffset()
	bs := s.batchesOf(s.rawBytes(l, leo))
	if s.failure != "" {
		return
	}
	want, open := scanTxns(bs)
	s.checking = true
	got, err := l.AbortedTransactions(l.LogStartOffset(), leo)
	s.checking = false
	if err != nil {
		if !l.Offline() {
			s.fail("%s: aborted transactions of %s-%d: %v", who, k.topic, k.part, err)
		}
		return
	}
	if !sameAborted(got, want) {
		s.fail("G-TXN: %s: aborted index of %s-%d is %s, its log says %s (log end %d, hw %d); producers: %s; txn batches: %s",
			who, k.topic, k.part, fmtAborted(got), fmtAborted(want), leo, l.HighWatermark(), producersOf(l), txnBatchesOf(bs))
		return
	}
	// The last stable offset may not pass an open transaction. It may stay
	// below the high watermark while a closed transaction's marker is not
	// below it (Kafka's unreplicated transactions); how long is not
	// checked here: holds are rebuilt only from the replay after the newest
	// producer snapshot (as in Kafka), and the reads check what a consumer
	// gets.
	wantLSO := l.HighWatermark()
	for _, first := range open {
		wantLSO = min(wantLSO, first)
	}
	if lso := l.LastStableOffset(); lso > wantLSO {
		s.fail("G-TXN: %s: last stable offset of %s-%d is %d, its log says at most %d (open %v, hw %d, log end %d); producers: %s; txn batches: %s",
			who, k.topic, k.part, lso, wantLSO, open, l.HighWatermark(), leo, producersOf(l), txnBatchesOf(bs))
	}
}

// readCommittedOnLeader is a read_committed consumer's read of a random
// partition from a node acting as its leader (a stale one too): no value
// of a transaction aborted or not yet decided may be visible (G1a,
// precommitted read), and every acknowledged batch of a committed
// transaction below the last stable offset must be (lost write).
func (s *Sim) readCommittedOnLeader() {
	n, k, ok := s.randomLeader()
	if !ok {
		return
	}
	l := n.inc.logs[k]
	lso := l.LastStableOffset()
	raw, err := l.ReadBatches(nil, lso) // a client's read: through the disk fault
	if err != nil {
		if !n.diskFault {
			s.fail("read %s-%d from node %d: %v", k.topic, k.part, n.id, err)
		}
		return
	}
	bs := s.batchesOf(raw)
	view, err := s.readCommitted(l, bs, lso)
	if err != nil {
		if !n.diskFault {
			s.fail("read_committed %s-%d from node %d: %v", k.topic, k.part, n.id, err)
		}
		return
	}
	s.Stats.TxnReads++
	for _, off := range sortedKeys(view) {
		v := view[off]
		tx := s.ck.txn.valueTxn[v]
		if tx == nil {
			continue
		}
		if tx.outcome != txnCommit {
			s.fail("G-TXN: read_committed on node %d (leader of %s-%d, lso %d) returns %q at offset %d of a transaction %s; %v; aborted index %s; producers: %s; txn batches: %s",
				n.id, k.topic, k.part, lso, v, off, tx.outcome, tx, s.abortedOf(l, lso), producersOf(l), txnBatchesOf(bs))
			return
		}
	}
	// Lost write (the F19 symptom): a committed transaction's batch
	// acknowledged below the last stable offset is returned. The node
	// holds it there (an offset below a high watermark has one value), and
	// a transaction it has not seen closed holds its last stable offset.
	for _, pr := range s.ck.txn.producers {
		for _, tx := range pr.txns {
			if tx.outcome != txnCommit {
				continue
			}
			for _, b := range tx.batches {
				if b.k != k || !b.acked || b.first+int64(len(b.values)) > lso {
					continue
				}
				for d, v := range b.values {
					if got := view[b.first+int64(d)]; got != v {
						s.fail("G-TXN (lost write): read_committed on node %d (leader of %s-%d, lso %d) returns %q at offset %d, not %q of committed %v; aborted index %s; producers: %s; txn batches: %s",
							n.id, k.topic, k.part, lso, got, b.first+int64(d), v, tx, s.abortedOf(l, lso), producersOf(l), txnBatchesOf(bs))
						return
					}
				}
			}
		}
	}
}

func (s *Sim) abortedOf(l *commitlog.Log, end int64) string {
	ab, err := l.AbortedTransactions(l.LogStartOffset(), end)
	if err != nil {
		return err.Error()
	}
	return fmtAborted(ab)
}

// checkTxnsFinal runs on the converged cluster once the transactional
// producers ended: on every replica of every partition, the last stable
// offset is the high watermark; the aborted index agrees with the log and
// with the leader's; a read_committed consumer sees every acknowledged
// batch of every committed transaction exactly once and nothing of an
// aborted one; every acknowledged marker is in the log.
func (s *Sim) checkTxnsFinal() {
	if len(s.ck.txn.producers) == 0 {
		return
	}
	im := s.activeController().meta.Image()
	for _, k := range s.partitions() {
		mp := im.Topic(k.topic).Partitions[k.part]
		var leaderAborted []commitlog.AbortedTxn
		ids := []int32{mp.Leader}
		for _, id := range mp.Replicas {
			if id != mp.Leader {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			l := s.node(id).inc.logs[k]
			who := fmt.Sprintf("replica %d", id)
			s.checkTxnLog(who, k, l)
			if s.failure != "" {
				return
			}
			hw := l.HighWatermark()
			if lso := l.LastStableOffset(); lso != hw {
				s.fail("G-TXN: %s of %s-%d: last stable offset %d below the high watermark %d with no transaction open; producers: %s", who, k.topic, k.part, lso, hw, producersOf(l))
				return
			}
			bs := s.batchesOf(s.rawBytes(l, hw))
			s.checking = true
			ab, err := l.AbortedTransactions(l.LogStartOffset(), hw)
			var view map[int64]string
			if err == nil {
				view, err = s.readCommitted(l, bs, hw)
			}
			s.checking = false
			if err != nil {
				s.fail("%s of %s-%d: %v", who, k.topic, k.part, err)
				return
			}
			if id == mp.Leader {
				leaderAborted = ab
			} else if !sameAborted(ab, leaderAborted) {
				s.fail("G-TXN: %s of %s-%d has aborted index %s, the leader %d %s (hw %d)", who, k.topic, k.part, fmtAborted(ab), mp.Leader, fmtAborted(leaderAborted), hw)
				return
			}
			s.checkCommittedView(who, k, l, bs, view, hw)
			if s.failure != "" {
				return
			}
		}
	}
}

// checkCommittedView checks one replica's read_committed view of k
// against what the transactional producers did.
func (s *Sim) checkCommittedView(who string, k tp, l *commitlog.Log, bs []logBatch, view map[int64]string, hw int64) {
	at := map[string]int64{}
	for _, off := range sortedKeys(view) {
		v := view[off]
		tx := s.ck.txn.valueTxn[v]
		if tx == nil {
			continue
		}
		if first, ok := at[v]; ok {
			s.fail("G-TXN: %s of %s-%d: read_committed returns %q at offsets %d and %d; %v", who, k.topic, k.part, v, first, off, tx)
			return
		}
		at[v] = off
		if tx.outcome != txnCommit {
			s.fail("G-TXN (aborted read): %s of %s-%d: read_committed returns %q at offset %d of %v; aborted index %s; producers: %s; txn batches: %s",
				who, k.topic, k.part, v, off, tx, s.abortedOf(l, hw), producersOf(l), txnBatchesOf(bs))
			return
		}
	}
	markers := map[int64]logBatch{}
	for _, b := range bs {
		if b.control {
			markers[b.base] = b
		}
	}
	for _, pr := range s.ck.txn.producers {
		for _, tx := range pr.txns {
			for _, m := range tx.markers {
				if m.k != k {
					continue
				}
				if b, ok := markers[m.offset]; !ok || b.pid != tx.pid || b.abort != (tx.outcome == txnAbort) {
					s.fail("G-DUR: %s of %s-%d: the %s marker of %v acknowledged at offset %d is not in the log (found %v); txn batches: %s",
						who, k.topic, k.part, tx.outcome, tx, m.offset, b, txnBatchesOf(bs))
					return
				}
			}
			if tx.outcome != txnCommit {
				continue
			}
			for _, b := range tx.batches {
				if b.k != k || !b.acked {
					continue
				}
				for d, v := range b.values {
					if off, ok := at[v]; !ok || off != b.first+int64(d) {
						s.fail("G-TXN (lost write): %s of %s-%d: read_committed does not return %q of committed %v at offset %d (returned at %d: %v; hw %d); aborted index %s; producers: %s; txn batches: %s",
							who, k.topic, k.part, v, tx, b.first+int64(d), off, ok, hw, s.abortedOf(l, hw), producersOf(l), txnBatchesOf(bs))
						return
					}
				}
			}
		}
	}
}
