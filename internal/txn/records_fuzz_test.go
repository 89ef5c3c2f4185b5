package txn

import (
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// FuzzDecodeTxnRecord: records of __transaction_state never panic the
// replay, whatever their bytes.
func FuzzDecodeTxnRecord(f *testing.F) {
	t := &txnMeta{id: "tx", producerID: 3, epoch: 1, timeout: time.Minute, state: Ongoing,
		partitions: map[TopicPartition]bool{{"a", 0}: true}}
	r := txnRecord(t, Ongoing, t.sortedPartitions(), time.UnixMilli(5), time.UnixMilli(6))
	f.Add(r.Key, r.Value)
	f.Add(r.Key, []byte(nil))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		_, _, _ = decodeTxnRecord(coordinator.Record{Key: k, Value: v})
	})
}
