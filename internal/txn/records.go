package txn

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// State is a transaction's state; the values are Kafka's (TransactionState).
type State int8

// The states of TransactionMetadata.
const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

func (s State) String() string { return kmsg.TransactionState(s).String() }

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// txnMeta is one transactional id's metadata (Kafka's TransactionMetadata).
type txnMeta struct {
	id         string
	producerID int64
	prevID     int64 // producer id before an epoch exhaustion, -1 none
	epoch      int16
	lastEpoch  int16 // epoch before the last bump, -1 none
	timeout    time.Duration
	state      State
	partitions map[TopicPartition]bool
	groups     map[string]bool // added by AddOffsetsToTxn (memory only)
	start      time.Time       // of the open transaction
	lastUpdate time.Time
	pending    bool // a transition is being written; others get CONCURRENT_TRANSACTIONS
	completing bool // markers are being written for a Prepare state
}

func (t *txnMeta) sortedPartitions() []TopicPartition {
	out := make([]TopicPartition, 0, len(t.partitions))
	for tp := range t.partitions {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// txnKey encodes TxnMetadataKey v0.
func txnKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

// txnRecord encodes t (with state st) as TxnMetadataKey/TxnMetadataValue
// v0, Kafka's TransactionLog.valueToBytes.
func txnRecord(t *txnMeta, st State, parts []TopicPartition, start, now time.Time) coordinator.Record {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID, v.ProducerEpoch = t.producerID, t.epoch
	v.TimeoutMillis = int32(t.timeout.Milliseconds())
	v.State = kmsg.TransactionState(st)
	v.LastUpdateTimestamp = now.UnixMilli()
	v.StartTimestamp = -1
	if !start.IsZero() {
		v.StartTimestamp = start.UnixMilli()
	}
	if st != Empty && st != CompleteCommit && st != CompleteAbort {
		for _, tp := range parts {
			if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
				v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
		}
	}
	if v.Topics == nil {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
	}
	return coordinator.Record{Key: txnKey(t.id), Value: v.AppendTo(nil)}
}

// decodeTxnRecord decodes a record of __transaction_state. A nil meta with
// nil error is a tombstone for id.
func decodeTxnRecord(r coordinator.Record) (id string, t *txnMeta, err error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		return "", nil, fmt.Errorf("decode transaction key: %w", err)
	}
	if k.Version != 0 {
		return "", nil, fmt.Errorf("decode transaction key: version %d", k.Version)
	}
	if r.Value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return "", nil, fmt.Errorf("decode transaction %q: %w", k.TransactionalID, err)
	}
	t = &txnMeta{
		id: k.TransactionalID, producerID: v.ProducerID, prevID: -1, epoch: v.ProducerEpoch, lastEpoch: -1,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: State(v.State),
		partitions: map[TopicPartition]bool{}, groups: map[string]bool{},
		lastUpdate: time.UnixMilli(v.LastUpdateTimestamp),
	}
	if v.Version >= 1 && v.PreviousProducerID >= 0 {
		t.prevID = v.PreviousProducerID
	}
	if v.StartTimestamp >= 0 {
		t.start = time.UnixMilli(v.StartTimestamp)
	}
	for _, tp := range v.Topics {
		for _, p := range tp.Partitions {
			t.partitions[TopicPartition{tp.Topic, p}] = true
		}
	}
	if t.state < Empty || t.state > PrepareEpochFence {
		return "", nil, fmt.Errorf("decode transaction %q: state %d", t.id, t.state)
	}
	return t.id, t, nil
}
