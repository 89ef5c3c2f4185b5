package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
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
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		seeds = append(seeds, c.nodes[id].Addr().String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const groupID = "g"
	gc := adm.FindGroupCoordinators(ctx, groupID)[groupID]
	if gc.Err != nil {
		t.Fatalf("find group coordinator: %v", gc.Err)
	}
	// A transactional id coordinated by another broker than the group.
	txnID := ""
	for i := range 200 {
		id := fmt.Sprintf("ctp-%d", i)
		tc := adm.FindTxnCoordinators(ctx, id)[id]
		if tc.Err == nil && tc.NodeID != gc.NodeID {
			txnID = id
			break
		}
	}
	if txnID == "" {
		t.Fatalf("no transactional id coordinated away from the group's broker %d", gc.NodeID)
	}
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
			t.Fatalf("End: committed %v, err %v (transaction coordinator of %s elsewhere than group coordinator %d)", committed, err, txnID, gc.NodeID)
		}
		copied += len(out)
	}
	if copied != 5 {
		t.Fatalf("copied %d records, want 5", copied)
	}
	offs, err := adm.FetchOffsets(ctx, groupID)
	must(t, err)
	if o, _ := offs.Lookup("in", 0); o.At != 5 {
		t.Fatalf("committed offset of in-0 = %d (%v), want 5", o.At, o.Err)
	}

	// Outside a transaction the group coordinator refuses the producer's
	// offsets: its transaction coordinator says the group's partition is
	// not in an ongoing transaction.
	txns, err := adm.DescribeTransactions(ctx, txnID)
	must(t, err)
	d, err := txns.On(txnID, nil)
	must(t, err)
	if d.State != "CompleteCommit" {
		t.Fatalf("transaction %s: state %s, want CompleteCommit", txnID, d.State)
	}
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
	resp, err := req.RequestWith(ctx, prod.Broker(int(gc.NodeID)))
	must(t, err)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Errorf("TxnOffsetCommit outside a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
}
