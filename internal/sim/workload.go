package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/replica"
)

// The workload: an admin client creates the topics, then producers send
// acks=all batches of unique values to the partitions' leaders (as their
// metadata, from a random broker, names them) and readers read each
// leader's log below its high watermark.

func topicName(i int) string { return fmt.Sprintf("t%d", i) }

// partitions lists every partition of the run.
func (s *Sim) partitions() []tp {
	var out []tp
	for i := range s.cfg.Topics {
		for p := range s.cfg.Partitions {
			out = append(out, tp{topicName(i), int32(p)})
		}
	}
	return out
}

// setup is the start-up condition: it starts the admin task once, then
// reports whether every partition has a leader acting as one, with a full
// ISR.
func (s *Sim) setup() bool {
	if !s.ck.adminStarted {
		s.ck.adminStarted = true
		s.spawn("admin", s.client, nil, func(*task) result { s.createTopics(); return result{} }, nil)
	}
	for _, k := range s.partitions() {
		mp := s.controllerPartition(k)
		if mp == nil || mp.Leader < 0 || len(mp.ISR) < rf {
			return false
		}
		if r, e := s.replicaRole(mp.Leader, k); r != "leader" || e != mp.LeaderEpoch {
			return false
		}
	}
	return true
}

// createTopics creates the topics through the active controller, retrying
// until each exists; it waits for every broker to be live first, so that
// replicas spread over all of them.
func (s *Sim) createTopics() {
	for i := 0; i < 300; i++ {
		ctl := s.activeController()
		if ctl == nil || len(ctl.meta.Image().Brokers) < len(s.nodes) {
			_ = s.sleep(100 * time.Millisecond)
			continue
		}
		missing := 0
		for ti := range s.cfg.Topics {
			name := topicName(ti)
			if ctl.meta.Image().Topic(name) != nil {
				continue
			}
			missing++
			req := metadata.CreateTopicRequest{Name: name, Partitions: int32(s.cfg.Partitions), ReplicationFactor: rf,
				Configs: map[string]string{"min.insync.replicas": fmt.Sprint(minISR)}}
			r := s.rpc(0, ctl.n.id, "create topic", s.cfg.RPCTimeout, func(reply func(result)) {
				s.storeCall(ctl, "create topic", func() result {
					_, err := ctl.meta.CreateTopic(req, false)
					return result{err: err}
				}, reply)
			})
			s.logf("create topic %s on %d: %v", name, ctl.n.id, r.err)
		}
		if missing == 0 {
			return
		}
		_ = s.sleep(100 * time.Millisecond)
	}
}

// activeController returns the incarnation of the raft leader with the
// highest term, or nil.
func (s *Sim) activeController() *incarnation {
	var best *incarnation
	var term uint64
	for _, n := range s.nodes {
		if !n.up || n.inc == nil || !n.voter {
			continue
		}
		st := n.inc.raft.Status()
		if st.Role == "leader" && st.Term > term {
			best, term = n.inc, st.Term
		}
	}
	return best
}

// controllerPartition is partition k in the active controller's image.
func (s *Sim) controllerPartition(k tp) *metadata.Partition {
	ctl := s.activeController()
	if ctl == nil {
		return nil
	}
	t := ctl.meta.Image().Topic(k.topic)
	if t == nil || int(k.part) >= len(t.Partitions) {
		return nil
	}
	return &t.Partitions[k.part]
}

// replicaRole is node id's role for k and its leader epoch.
func (s *Sim) replicaRole(id int32, k tp) (string, int32) {
	n := s.node(id)
	if n == nil || !n.up || n.inc == nil {
		return "down", -1
	}
	p := n.inc.rm.Partition(k.topic, k.part)
	if p == nil {
		return "none", -1
	}
	r, e := p.Role()
	return r.String(), e
}

// scheduleWorkload sends writes every few tens of milliseconds and reads
// every few hundred until end.
func (s *Sim) scheduleWorkload(end time.Duration) {
	s.workloadEnd = end
	var produce, read func()
	produce = func() {
		if s.now >= min(end, s.workloadEnd) {
			return
		}
		i := s.rng.IntN(len(s.partitions()))
		if s.rng.IntN(4) == 0 {
			s.produceIdempotent(s.partitions()[i], i)
		} else {
			s.produce(s.partitions()[i])
		}
		s.after(time.Duration(10+s.rng.IntN(60))*time.Millisecond, nil, produce)
	}
	read = func() {
		if s.now >= min(end, s.workloadEnd) {
			return
		}
		if s.rng.IntN(2) == 0 {
			s.read()
		} else {
			s.readCommittedOnLeader()
		}
		s.after(time.Duration(100+s.rng.IntN(300))*time.Millisecond, nil, read)
	}
	s.after(0, nil, produce)
	s.after(0, nil, read)
	s.after(0, nil, s.startTxnProducers)
}

// produce sends one acks=all batch to the leader of k that a random live
// broker's metadata names.
func (s *Sim) produce(k tp) {
	var ups []*node
	for _, n := range s.nodes {
		if n.up && n.inc != nil {
			ups = append(ups, n)
		}
	}
	if len(ups) == 0 {
		return
	}
	im := ups[s.rng.IntN(len(ups))].inc.meta.Image()
	t := im.Topic(k.topic)
	if t == nil || int(k.part) >= len(t.Partitions) || t.Partitions[k.part].Leader < 0 {
		return
	}
	leader := t.Partitions[k.part].Leader
	var values []string
	for range 1 + s.rng.IntN(3) {
		s.ck.nextValue++
		values = append(values, fmt.Sprintf("s%d-v%d", s.seed, s.ck.nextValue))
	}
	s.Stats.Produced++
	s.send(0, leader, "produce", func() {
		inc := s.node(leader).inc
		s.spawn("produce", inc.n, inc, func(*task) result { return s.produceOn(inc, k, noProducer, values) }, func(r result) {
			s.send(leader, 0, "produce reply", func() { s.onAck(k, leader, r) })
		})
	})
}

// idemProducer is an idempotent producer's state for one partition: the
// producer id (epoch 0), the next sequence, and the batch whose outcome is
// unknown, retried with the same sequence and values until acknowledged
// (Kafka's producer with max.in.flight 1 and infinite retries).
type idemProducer struct {
	id      int64
	seq     int32
	pending []string
	running bool
}

// producerBatch is a batch's producer id, epoch and base sequence, and
// whether it is transactional.
type producerBatch struct {
	id    int64
	epoch int16
	seq   int32
	txn   bool
}

var noProducer = producerBatch{id: -1, epoch: -1, seq: -1}

// produceIdempotent runs k's idempotent producer until the workload ends:
// one batch at a time, to the leader a random live broker's metadata names,
// retried after any error or a lost answer.
func (s *Sim) produceIdempotent(k tp, idx int) {
	pr := s.ck.producers[k]
	if pr == nil {
		pr = &idemProducer{id: 1000 + int64(idx)}
		s.ck.producers[k] = pr
	}
	if pr.running {
		return
	}
	pr.running = true
	s.spawn("idempotent producer", s.client, nil, func(t *task) result {
		defer func() { pr.running = false }()
		// t.dead: a run ended early (a test's own check failed) kills it.
		for s.now < s.workloadEnd && s.failure == "" && !t.dead {
			if pr.pending == nil {
				for range 1 + s.rng.IntN(3) {
					s.ck.nextValue++
					pr.pending = append(pr.pending, fmt.Sprintf("s%d-p%d-q%d-v%d", s.seed, pr.id, pr.seq, s.ck.nextValue))
				}
			}
			leader := s.leaderFor(k)
			if leader < 0 {
				_ = s.sleep(100 * time.Millisecond)
				continue
			}
			b, values := producerBatch{id: pr.id, epoch: 0, seq: pr.seq}, pr.pending
			s.Stats.Produced++
			r := s.rpc(0, leader, "idempotent produce", s.cfg.RequestTimeout+s.cfg.RPCTimeout, func(reply func(result)) {
				inc := s.node(leader).inc
				s.spawn("produce", inc.n, inc, func(*task) result { return s.produceOn(inc, k, b, values) }, reply)
			})
			if r.err != nil {
				// Every error is retried, OUT_OF_ORDER_SEQUENCE_NUMBER too: a
				// stale leader (cut off, its producer state behind) answers it.
				_ = s.sleep(100 * time.Millisecond)
				continue
			}
			s.Stats.IdempotentAcked++
			s.onAck(k, leader, r)
			pr.seq += int32(len(values))
			pr.pending = nil
			_ = s.sleep(time.Duration(10+s.rng.IntN(60)) * time.Millisecond)
		}
		return result{}
	}, nil)
}

// leaderFor is the leader of k that a random live broker's metadata names,
// or -1.
func (s *Sim) leaderFor(k tp) int32 {
	var ups []*node
	for _, n := range s.nodes {
		if n.up && n.inc != nil {
			ups = append(ups, n)
		}
	}
	if len(ups) == 0 {
		return -1
	}
	t := ups[s.rng.IntN(len(ups))].inc.meta.Image().Topic(k.topic)
	if t == nil || int(k.part) >= len(t.Partitions) {
		return -1
	}
	return t.Partitions[k.part].Leader
}

// ack is a successful acks=all produce.
type ack struct {
	first  int64
	epoch  int32
	values []string
}

// produceOn is the leader's produce path (handler 00_produce.go):
// append in the leader epoch, fsync, let the high watermark move, wait
// until it passes the batch.
func (s *Sim) produceOn(inc *incarnation, k tp, pb producerBatch, values []string) result {
	p := inc.rm.Partition(k.topic, k.part)
	if p == nil {
		return result{err: errors.New("unknown partition")}
	}
	b := record.NewBuilder(record.BuilderOptions{ProducerID: pb.id, ProducerEpoch: pb.epoch, BaseSequence: pb.seq,
		Transactional: pb.txn, BaseTimestamp: inc.n.clk.Now().UnixMilli()})
	for i, v := range values {
		b.Add(record.Record{OffsetDelta: int32(i), Value: []byte(v)})
	}
	batch, err := b.Build(nil)
	if err != nil {
		s.fail("build batch: %v", err)
		return result{err: err}
	}
	if _, err := record.Validate(batch, record.ValidateOptions{}); err != nil {
		s.fail("validate batch: %v", err)
		return result{err: err}
	}
	// The handler's leaderAppend and appendProduce.
	var res commitlog.ProducerAppendResult
	epoch, err := p.AppendWith(-1, minISR, func(e int32) (err error) {
		res, err = p.Log().AppendProducer(batch, e, nil)
		return err
	})
	if err != nil {
		return result{err: err}
	}
	s.logf("node %d appends %s-%d %d..%d in epoch %d (producer %d/%d seq %d, txn %v, duplicate %v)", inc.n.id, k.topic, k.part, res.FirstOffset, res.LastOffset, epoch, pb.id, pb.epoch, pb.seq, pb.txn, res.Duplicate)
	if res.Duplicate {
		s.Stats.Duplicates++
	}
	r := s.awaitCommitted(inc, p, k, epoch, res.LastOffset)
	if r.err != nil {
		return r
	}
	return result{val: ack{first: res.FirstOffset, epoch: epoch, values: values}}
}

// awaitCommitted is the rest of the produce path after the leader's
// append in epoch (handler: produceCommitted with acks=-1): fsync, let
// the high watermark move, wait until it passes last.
func (s *Sim) awaitCommitted(inc *incarnation, p *replica.Partition, k tp, epoch int32, last int64) result {
	if err := p.Log().WaitDurable(context.Background(), last); err != nil && !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
		return result{err: err}
	}
	p.LeaderDurable()
	deadline := s.now + s.cfg.RequestTimeout
	for {
		done, err := p.Committed(epoch, last+1, minISR)
		if done {
			return result{err: err}
		}
		if s.now >= deadline {
			return result{err: errTimeout}
		}
		r := s.await(func(t *task, w uint64) {
			inc.hwWait[k] = append(inc.hwWait[k], hwWaiter{t, w})
			s.after(100*time.Millisecond, t.node, func() { s.wake(t, w, result{}) })
		})
		if r.err != nil {
			return r
		}
	}
}

// onAck records an acknowledged write; an offset acknowledged or read with
// two values is an inconsistency.
func (s *Sim) onAck(k tp, leader int32, r result) {
	if r.err != nil {
		return
	}
	a := r.val.(ack)
	s.Stats.Acked++
	s.ck.ackedAfterHeal[k] = true
	s.logf("ack %s-%d %d..%d from %d epoch %d", k.topic, k.part, a.first, a.first+int64(len(a.values))-1, leader, a.epoch)
	for i, v := range a.values {
		s.ck.see(s, k, a.first+int64(i), v, "acknowledged")
		s.ck.acked[k] = append(s.ck.acked[k], a.first+int64(i))
	}
}

// randomLeader picks a random partition and a random running node that
// acts as its leader (a stale one too), as a client's read would reach.
// ok is false when no node leads the partition.
func (s *Sim) randomLeader() (*node, tp, bool) {
	k := s.partitions()[s.rng.IntN(len(s.partitions()))]
	var leaders []*node
	for _, n := range s.nodes {
		if n.up && !n.paused && n.inc != nil {
			if r, _ := s.replicaRole(n.id, k); r == "leader" {
				leaders = append(leaders, n)
			}
		}
	}
	if len(leaders) == 0 {
		return nil, k, false
	}
	return leaders[s.rng.IntN(len(leaders))], k, true
}

// read reads a random partition from a node that acts as its leader (a
// stale one too), below its high watermark: all of that is committed.
func (s *Sim) read() {
	n, k, ok := s.randomLeader()
	if !ok {
		return
	}
	p := n.inc.rm.Partition(k.topic, k.part)
	hw := p.HighWatermark()
	s.Stats.Reads++
	b, err := p.Log().ReadBatches(nil, hw) // a client's read: through the disk fault
	if err != nil {
		if !n.diskFault {
			s.fail("read %s-%d from node %d: %v", k.topic, k.part, n.id, err)
		}
		return // KAFKA_STORAGE_ERROR; the log, so the directory, went offline
	}
	for off, v := range s.decode(b, hw) {
		s.ck.see(s, k, off, v, fmt.Sprintf("read below the high watermark %d of node %d", hw, n.id))
	}
}

// contents decodes a log below end for a check: offset → value.
func (s *Sim) contents(l *commitlog.Log, end int64) map[int64]string {
	return s.decode(s.rawBytes(l, end), end)
}

// decode decodes batches: offset → value, below end.
func (s *Sim) decode(b []byte, end int64) map[int64]string {
	out := map[int64]string{}
	it := record.NewBatches(b)
	for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
		recs, err := record.DecodeRecords(batch, 1<<20)
		if err != nil {
			s.fail("decode batch at %d: %v", h.BaseOffset, err)
			return out
		}
		for _, r := range recs {
			if o := h.BaseOffset + int64(r.OffsetDelta); o < end {
				out[o] = string(r.Value)
			}
		}
	}
	return out
}

// rawBytes returns the log's batches whose last offset is below end, for a
// check: the disk faults spare its reads.
func (s *Sim) rawBytes(l *commitlog.Log, end int64) []byte {
	s.checking = true
	b, err := l.ReadBatches(nil, end)
	s.checking = false
	if err != nil {
		s.fail("%v", err)
	}
	return b
}
