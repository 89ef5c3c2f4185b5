package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/handler"
)

func TestTxnConfig(t *testing.T) {
	b := config.Defaults()
	c := TxnConfig(&b)
	if c.NumPartitions != 50 || c.ReplicationFactor != 3 || c.MaxTimeout != 15*time.Minute ||
		c.AbortCheckInterval != 10*time.Second || c.IDExpiration != 7*24*time.Hour ||
		c.IDExpirationCheck != time.Hour || c.NoPartitionVerification {
		t.Errorf("TxnConfig(defaults) = %+v", c)
	}
	must(t, b.Set("transaction.max.timeout.ms", "60000"))
	must(t, b.Set("transaction.state.log.num.partitions", "3"))
	must(t, b.Set("transactional.id.expiration.ms", "1000"))
	must(t, b.Set("transaction.partition.verification.enable", "false"))
	c = TxnConfig(&b)
	if c.MaxTimeout != time.Minute || c.NumPartitions != 3 || c.IDExpiration != time.Second || !c.NoPartitionVerification {
		t.Errorf("TxnConfig(set) = %+v", c)
	}
}

// TestClusterTxnOffsetCommitRemoteTxnCoordinator: a consume-transform-produce
// transaction (kgo.GroupTransactSession) whose transaction coordinator and
// group coordinator are different brokers commits its offsets. The
// TxnOffsetCommit goes to the group coordinator, which must not need the
// transactional id's shard of __transaction_state: before the fix it asked
// its own transaction coordinator, answered NOT_COORDINATOR forever (the
// client re-found the same group coordinator) and the transaction was
// aborted at its timeout (chaos F18b, docs/reliability.md). It also checks
// that the group coordinator refuses the offsets of a producer that has not
// added the group to its transaction (KIP-890 verification).
func TestClusterTxnOffsetCommitRemoteTxnCoordinator(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.waitLive(1, 2, 3)
	adm := c.admin(1)
	clusterCreate(t, adm, "in", 1, 3)
	clusterCreate(t, adm, "out", 1, 3)
	seeds := c.addrs(3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const groupID = "g"
	gcNode := groupCoordinator(ctx, t, adm, groupID)
	txnID, _ := txnIDAwayFrom(ctx, t, adm, gcNode)
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("in"))
	must(t, err)
	defer prod.Close()
	for i := range 5 {
		must(t, prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr())
	}

	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(time.Minute), kgo.ConsumerGroup(groupID), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic("out"), kgo.RetryTimeout(15*time.Second))
	must(t, err)
	defer sess.Close()
	copied := 0
	for round := 0; copied < 5 && round < 20; round++ {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		var out []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { out = append(out, &kgo.Record{Value: r.Value}) })
		if len(out) == 0 {
			continue
		}
		must(t, sess.Begin())
		must(t, sess.ProduceSync(ctx, out...).FirstErr())
		ectx, ecancel := context.WithTimeout(ctx, 30*time.Second)
		committed, err := sess.End(ectx, kgo.TryCommit)
		ecancel()
		if err != nil || !committed {
			t.Fatalf("End: committed %v, err %v (transaction coordinator of %s elsewhere than group coordinator %d)", committed, err, txnID, gcNode)
		}
		copied += len(out)
	}
	if copied != 5 {
		t.Fatalf("copied %d records, want 5", copied)
	}
	// EndTxn answers before the markers are written: the offsets and
	// CompleteCommit follow.
	c.waitFor(30*time.Second, "committed offset 5 of in-0", func() bool {
		offs, err := adm.FetchOffsets(ctx, groupID)
		o, _ := offs.Lookup("in", 0)
		return err == nil && o.At == 5
	})
	var d kadm.DescribedTransaction
	c.waitFor(30*time.Second, "transaction CompleteCommit", func() bool {
		txns, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			return false
		}
		d, err = txns.On(txnID, nil)
		return err == nil && d.State == "CompleteCommit"
	})

	// Outside a transaction the group coordinator refuses the producer's
	// offsets: its transaction coordinator says the group's partition is
	// not in an ongoing transaction.
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, groupID, d.ProducerID, d.ProducerEpoch
	req.MemberID, req.Generation = "", -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "in"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, prod.Broker(int(gcNode)))
	must(t, err)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Errorf("TxnOffsetCommit outside a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
}

// txnIDAwayFrom returns a transactional id whose transaction coordinator is
// not broker node, and that coordinator.
func txnIDAwayFrom(ctx context.Context, t *testing.T, adm *kadm.Client, node int32) (string, int32) {
	t.Helper()
	for i := range 200 {
		id := fmt.Sprintf("ctp-%d", i)
		tc := adm.FindTxnCoordinators(ctx, id)[id]
		if tc.Err == nil && tc.NodeID != node {
			return id, tc.NodeID
		}
	}
	t.Fatalf("no transactional id coordinated away from broker %d", node)
	return "", -1
}

// requestGate holds the inter-broker requests that match (match is called
// for each) until released; later ones pass.
type requestGate struct {
	match func(kmsg.Request) bool
	// afterSend holds the answer of a served request instead of the
	// request; ignoreCtx holds past the request's context (the release or
	// a minute ends it).
	afterSend, ignoreCtx bool

	held    chan struct{} // closed when the first request is held
	release chan struct{}
	once    sync.Once
	expired atomic.Int32  // holds ended by the request's context
	resp    kmsg.Response // the first held answer (afterSend), set before held is closed
	err     error
}

func newRequestGate(match func(kmsg.Request) bool) *requestGate {
	return &requestGate{match: match, held: make(chan struct{}), release: make(chan struct{})}
}

func (g *requestGate) wrap(b handler.BrokerClient) handler.BrokerClient {
	return gatedBrokers{b, g}
}

func (g *requestGate) hold(ctx context.Context, resp kmsg.Response, err error) {
	g.once.Do(func() {
		g.resp, g.err = resp, err
		close(g.held)
	})
	done := ctx.Done()
	if g.ignoreCtx {
		done = nil
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-g.release:
	case <-done:
		g.expired.Add(1)
	case <-t.C:
	}
}

type gatedBrokers struct {
	handler.BrokerClient
	g *requestGate
}

func (b gatedBrokers) Request(ctx context.Context, node int32, req kmsg.Request, resp kmsg.Response) error {
	if !b.g.match(req) {
		return b.BrokerClient.Request(ctx, node, req, resp)
	}
	if !b.g.afterSend {
		b.g.hold(ctx, nil, nil)
		return b.BrokerClient.Request(ctx, node, req, resp)
	}
	err := b.BrokerClient.Request(ctx, node, req, resp)
	b.g.hold(ctx, resp, err)
	return err
}

// TestClusterTxnOffsetCommitOvertakenByEndTxn: a TxnOffsetCommit at a group
// coordinator away from the transaction coordinator is verified, then its
// producer ends the transaction (the client gave up on the request) before
// the offsets are appended. The marker in __consumer_offsets clears the
// verification guard taken before the verification, so the late append is
// refused with INVALID_TXN_STATE (KIP-890 part 1) instead of leaving the
// offsets pending, and the partition unstable, until the producer's next
// marker there (internal/txn/DESIGN.md).
func TestClusterTxnOffsetCommitOvertakenByEndTxn(t *testing.T) {
	// Holds the answer to the group coordinator's AddPartitionsToTxn
	// VerifyOnly request for the TxnOffsetCommit, once armed.
	var armed atomic.Bool
	var txnID string
	gate := newRequestGate(func(req kmsg.Request) bool {
		r, ok := req.(*kmsg.AddPartitionsToTxnRequest)
		// armed is read first: txnID is set before it is armed.
		return ok && armed.Load() && len(r.Transactions) == 1 && r.Transactions[0].VerifyOnly &&
			r.Transactions[0].TransactionalID == txnID && armed.CompareAndSwap(true, false)
	})
	gate.afterSend, gate.ignoreCtx = true, true
	c := newTestCluster(t, 3, 0, func(o *Options) { o.wrapBrokers = gate.wrap })
	c.waitLive(1, 2, 3)
	adm := c.admin(1)
	clusterCreate(t, adm, "in", 1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const groupID = "g-late"
	gcNode := groupCoordinator(ctx, t, adm, groupID)
	txnID, tc := txnIDAwayFrom(ctx, t, adm, gcNode)
	seeds := c.addrs(3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	must(t, err)
	defer cl.Close()
	txnBroker, groupBroker := cl.Broker(int(tc)), cl.Broker(int(gcNode))

	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &txnID, 60000
	ir, err := init.RequestWith(ctx, txnBroker)
	must(t, err)
	if err := kerr.ErrorForCode(ir.ErrorCode); err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, groupID
	ar, err := add.RequestWith(ctx, txnBroker)
	must(t, err)
	if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
		t.Fatalf("AddOffsetsToTxn: %v", err)
	}

	// The TxnOffsetCommit, held after its verification.
	armed.Store(true)
	type result struct {
		code int16
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = 3
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, groupID, pid, epoch
		req.MemberID, req.Generation = "", -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 3
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, groupBroker)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{code: resp.Topics[0].Partitions[0].ErrorCode}
	}()
	select {
	case <-gate.held:
	case r := <-done:
		t.Fatalf("TxnOffsetCommit answered (%v, %v) before its verification was held", kerr.ErrorForCode(r.code), r.err)
	case <-ctx.Done():
		t.Fatal("TxnOffsetCommit never verified")
	}
	if vr, ok := gate.resp.(*kmsg.AddPartitionsToTxnResponse); gate.err != nil || !ok || vr.ErrorCode != 0 ||
		len(vr.Transactions) != 1 || vr.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("the held verification did not verify the transaction: %+v, %v", gate.resp, gate.err)
	}

	// The producer ends its transaction meanwhile; its marker reaches the
	// group's partition of __consumer_offsets.
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	c.waitFor(30*time.Second, "EndTxn accepted", func() bool {
		er, err := end.RequestWith(ctx, txnBroker)
		return err == nil && er.ErrorCode == 0
	})
	c.waitFor(30*time.Second, "transaction CompleteCommit", func() bool {
		d, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			return false
		}
		td, err := d.On(txnID, nil)
		return err == nil && td.State == "CompleteCommit"
	})
	close(gate.release)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("TxnOffsetCommit never answered")
	}
	must(t, r.err)
	if r.code != kerr.InvalidTxnState.Code {
		t.Errorf("TxnOffsetCommit overtaken by its transaction's marker: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(r.code))
	}

	// Nothing is left pending: a stable offset fetch of in-0 answers with
	// no committed offset, not UNSTABLE_OFFSET_COMMIT.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group, of.RequireStable = groupID, true
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic, ot.Partitions = "in", []int32{0}
	of.Topics = append(of.Topics, ot)
	og := kmsg.NewOffsetFetchRequestGroup() // v8+
	og.Group = groupID
	ogt := kmsg.NewOffsetFetchRequestGroupTopic()
	ogt.Topic, ogt.Partitions = "in", []int32{0}
	og.Topics = append(og.Topics, ogt)
	of.Groups = append(of.Groups, og)
	ofr, err := of.RequestWith(ctx, groupBroker)
	must(t, err)
	code, offset := int16(-1), int64(-2)
	for _, g := range ofr.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				code, offset = p.ErrorCode, p.Offset
			}
		}
	}
	for _, t := range ofr.Topics {
		for _, p := range t.Partitions {
			code, offset = p.ErrorCode, p.Offset
		}
	}
	if code != 0 || offset != -1 {
		t.Errorf("OffsetFetch RequireStable of in-0 = offset %d, %v; want -1 and no error (offsets left pending)", offset, kerr.ErrorForCode(code))
	}
}

// TestClusterEndTxnAnswersBeforeMarkers: EndTxn answers once PrepareCommit
// is durable, while the marker to another broker's partition is held (its
// leader unreachable), as Kafka's does (after txn.Config.EndTxnMarkerWait,
// ADR 0010); the producer's next transaction gets CONCURRENT_TRANSACTIONS
// until the marker is written, then starts. Before, EndTxn waited for the
// markers (up to 30 s): the held marker request ran out its context before
// EndTxn answered.
func TestClusterEndTxnAnswersBeforeMarkers(t *testing.T) {
	var pid atomic.Int64
	pid.Store(-2)
	gate := newRequestGate(func(req kmsg.Request) bool {
		r, ok := req.(*kmsg.WriteTxnMarkersRequest)
		return ok && len(r.Markers) > 0 && r.Markers[0].ProducerID == pid.Load()
	})
	c := newTestCluster(t, 3, 0, func(o *Options) { o.wrapBrokers = gate.wrap })
	c.waitLive(1, 2, 3)
	adm := c.admin(1)
	clusterCreate(t, adm, "out", 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	txnID, tc := txnIDAwayFrom(ctx, t, adm, -1)
	// A partition another broker leads: its marker goes out as
	// WriteTxnMarkers, which the gate holds.
	part := int32(-1)
	c.waitFor(30*time.Second, "a partition of out led away from the transaction coordinator", func() bool {
		td, err := adm.ListTopics(ctx, "out")
		if err != nil {
			return false
		}
		for _, p := range td["out"].Partitions {
			if p.Leader >= 0 && p.Leader != tc {
				part = p.Partition
				return true
			}
		}
		return false
	})
	seeds := c.addrs(3)
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic("out"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(time.Minute))
	must(t, err)
	defer prod.Close()
	must(t, prod.BeginTransaction())
	must(t, prod.ProduceSync(ctx, &kgo.Record{Partition: part, Value: []byte("v")}).FirstErr())
	id, epoch, err := prod.ProducerID(ctx)
	must(t, err)
	pid.Store(id)

	must(t, prod.EndTransaction(ctx, kgo.TryCommit))
	if n := gate.expired.Load(); n != 0 {
		t.Fatalf("EndTxn answered after %d marker request(s) to out-%d ran out their context: it waited for the markers", n, part)
	}
	select {
	case <-gate.held:
	case <-ctx.Done():
		t.Fatal("the marker was never sent")
	}
	describe := func() string {
		txns, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			return err.Error()
		}
		d, err := txns.On(txnID, nil)
		if err != nil {
			return err.Error()
		}
		return d.State
	}
	if s := describe(); s != "PrepareCommit" {
		t.Fatalf("transaction with its marker held: %s, want PrepareCommit", s)
	}
	txnBroker := prod.Broker(int(tc))
	addNext := func() int16 {
		// kgo sends the newest version, v4: one batched transaction.
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch = txnID, id, epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = "out", []int32{part}
		tr.Topics = append(tr.Topics, rt)
		req.Transactions = append(req.Transactions, tr)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, id, epoch // v0-3
		rt3 := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt3.Topic, rt3.Partitions = "out", []int32{part}
		req.Topics = append(req.Topics, rt3)
		resp, err := req.RequestWith(ctx, txnBroker)
		if err != nil {
			return kerr.UnknownServerError.Code
		}
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		for _, tx := range resp.Transactions {
			return tx.Topics[0].Partitions[0].ErrorCode
		}
		for _, t := range resp.Topics {
			return t.Partitions[0].ErrorCode
		}
		return kerr.UnknownServerError.Code
	}
	if code := addNext(); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("next transaction while the marker is held: %v, want CONCURRENT_TRANSACTIONS", kerr.ErrorForCode(code))
	}

	close(gate.release)
	c.waitFor(30*time.Second, "the next transaction starts once the marker is written", func() bool {
		return addNext() == 0
	})
	if s := describe(); s != "Ongoing" {
		t.Errorf("next transaction: %s, want Ongoing", s)
	}
	// The committed record is visible to read_committed.
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"out": {part: kgo.NewOffset().AtStart()}}))
	must(t, err)
	defer cons.Close()
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	var got []string
	for len(got) == 0 && fctx.Err() == nil {
		cons.PollFetches(fctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "v" {
		t.Errorf("read_committed out-%d = %q, want [v]", part, got)
	}
}

// groupCoordinator returns the node id of group's coordinator.
func groupCoordinator(ctx context.Context, t *testing.T, adm *kadm.Client, group string) int32 {
	t.Helper()
	gc := adm.FindGroupCoordinators(ctx, group)[group]
	if gc.Err != nil {
		t.Fatalf("find group coordinator: %v", gc.Err)
	}
	return gc.NodeID
}
