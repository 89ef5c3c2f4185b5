package badinput

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/wire"
)

func readFrame(c net.Conn) ([]byte, error) { return wire.ReadFrame(c, 64<<20, nil) }

const fetchVersion = 12 // flexible, topic names, CurrentLeaderEpoch

func fetch(topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1<<20
	req.SessionEpoch = -1 // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchCode returns the partition's error code (or the top-level one).
func fetchCode(t testing.TB, b *broker, req *kmsg.FetchRequest) int16 {
	t.Helper()
	resp := b.roundTrip(t, req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// leo is the partition's log end offset (ListOffsets latest).
func (b *broker) leo(t testing.TB, topic string, partition int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := b.roundTrip(t, req).(*kmsg.ListOffsetsResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("list offsets %s-%d: %v", topic, partition, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

func (b *broker) leaderEpoch(t testing.TB, topic string, partition int32) int32 {
	t.Helper()
	resp := b.roundTrip(t, metadata(12, topic)).(*kmsg.MetadataResponse)
	for _, p := range resp.Topics[0].Partitions {
		if p.Partition == partition {
			return p.LeaderEpoch
		}
	}
	t.Fatalf("metadata: no partition %s-%d", topic, partition)
	return 0
}

// initProducerID gets a producer id, retrying (bounded) while the
// coordinator loads.
func (b *broker) initProducerID(t testing.TB, txnID *string) (int64, int16) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(4)
		req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp := b.roundTrip(t, req).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode == 0 {
			return resp.ProducerID, resp.ProducerEpoch
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); !kerr.IsRetriable(err) || time.Now().After(deadline) {
			t.Fatalf("init producer id: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, txn bool) []byte {
	t.Helper()
	bd := record.NewBuilder(record.BuilderOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: txn,
		BaseTimestamp: time.Now().UnixMilli()})
	bd.Add(record.Record{Key: []byte("k"), Value: []byte("v")})
	out, err := bd.Build(nil)
	must(t, err)
	return out
}

// row30: a sequence gap, a stale epoch and an unknown producer id are
// rejected without moving the producer's sequence; a duplicate is answered
// as success (or DUPLICATE_SEQUENCE_NUMBER) without a second append.
func row30(t *testing.T, b *broker) {
	pid, epoch := b.initProducerID(t, nil)
	code := func(records []byte) int16 { return b.produceCode(t, produce("t", 0, -1, records)) }
	f := func(what string, records []byte, want ...int16) {
		t.Helper()
		before := b.leo(t, "t", 0)
		if c := code(records); !containsCode(want, c) {
			t.Errorf("%s: error %d (%v), want %v", what, c, kerr.ErrorForCode(c), codeNames(want))
		}
		if c := want[0]; c != 0 {
			if after := b.leo(t, "t", 0); after != before {
				t.Errorf("%s: log end offset moved %d → %d", what, before, after)
			}
		}
	}
	f("first batch", idemBatch(t, pid, epoch, 0, false), 0)
	f("sequence gap", idemBatch(t, pid, epoch, 5, false), kerr.OutOfOrderSequenceNumber.Code)
	// The rejected batch must not have advanced the sequence: 1 is next.
	f("next sequence after a rejected gap", idemBatch(t, pid, epoch, 1, false), 0)
	leo := b.leo(t, "t", 0)
	if c := code(idemBatch(t, pid, epoch, 1, false)); c != 0 && c != kerr.DuplicateSequenceNumber.Code {
		t.Errorf("duplicate: error %d (%v), want success or DUPLICATE_SEQUENCE_NUMBER", c, kerr.ErrorForCode(c))
	}
	if after := b.leo(t, "t", 0); after != leo {
		t.Errorf("duplicate appended again: log end offset %d → %d", leo, after)
	}
	if epoch > 0 {
		f("stale epoch", idemBatch(t, pid, epoch-1, 2, false), kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code)
	}
	f("future epoch, sequence not 0", idemBatch(t, pid, epoch+1, 7, false), kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerEpoch.Code)
	// A producer id the partition has no state for starts at any sequence,
	// as in Kafka since KIP-360 (the coordinator issued the id; the state
	// may have been removed with the producer's last records).
	f("unknown producer id, sequence 7", idemBatch(t, pid+1000, 0, 7, false), 0)
	f("its next sequence", idemBatch(t, pid+1000, 0, 9, false), kerr.OutOfOrderSequenceNumber.Code)
	f("next sequence still accepted", idemBatch(t, pid, epoch, 2, false), 0)
}

// row31: a transactional batch to a partition that was not added to the
// transaction is rejected, also after the transaction that added it ended.
func row31(t *testing.T, b *broker) {
	txnID := "badinput-tx"
	pid, epoch := b.initProducerID(t, &txnID)
	send := func(seq int32) int16 {
		req := produce("txn", 0, -1, idemBatch(t, pid, epoch, seq, true))
		req.TransactionID = &txnID
		return b.produceCode(t, req)
	}
	before := b.leo(t, "txn", 0)
	if c := send(0); c != kerr.InvalidTxnState.Code {
		t.Errorf("not added: error %d (%v), want INVALID_TXN_STATE", c, kerr.ErrorForCode(c))
	}
	if after := b.leo(t, "txn", 0); after != before {
		t.Errorf("rejected transactional batch appended: %d → %d", before, after)
	}

	// A whole transaction: add, produce, commit; then a late batch of it.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.SetVersion(3)
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = txnID, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "txn", []int32{0}
	add.Topics = append(add.Topics, at)
	ar := b.roundTrip(t, add).(*kmsg.AddPartitionsToTxnResponse)
	if c := ar.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("add partitions: %v", kerr.ErrorForCode(c))
	}
	if c := send(0); c != 0 {
		t.Fatalf("produce in transaction: %v", kerr.ErrorForCode(c))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(3)
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	if c := b.roundTrip(t, end).(*kmsg.EndTxnResponse).ErrorCode; c != 0 {
		t.Fatalf("end txn: %v", kerr.ErrorForCode(c))
	}
	// EndTxn answers before the markers are written (as Kafka's): the
	// transaction has ended once it is CompleteCommit.
	for i := 0; ; i++ {
		d := kmsg.NewPtrDescribeTransactionsRequest()
		d.SetVersion(0)
		d.TransactionalIDs = []string{txnID}
		r := b.roundTrip(t, d).(*kmsg.DescribeTransactionsResponse)
		if len(r.TransactionStates) == 1 && r.TransactionStates[0].State == "CompleteCommit" {
			break
		}
		if i == 500 {
			t.Fatalf("transaction not CompleteCommit after EndTxn: %+v", r.TransactionStates)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before = b.leo(t, "txn", 0)
	if c := send(1); c != kerr.InvalidTxnState.Code {
		t.Errorf("late batch of an ended transaction: error %d (%v), want INVALID_TXN_STATE", c, kerr.ErrorForCode(c))
	}
	// A marker may still be written after the commit; wait (bounded) for
	// the log end to settle before comparing.
	time.Sleep(100 * time.Millisecond)
	if after := b.leo(t, "txn", 0); after > before+1 {
		t.Errorf("late transactional batch appended: %d → %d", before, after)
	}
}
