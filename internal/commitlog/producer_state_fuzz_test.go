package commitlog

import "testing"

// FuzzDecodeProducerFiles: the snapshot and transaction-index decoders
// never panic, and a decoded snapshot encodes back to the same bytes.
func FuzzDecodeProducerFiles(f *testing.F) {
	f.Add(encodeSnapshot(map[int64]*producerEntry{7: {id: 7, epoch: 1, txnFirstOffset: -1, batches: []batchMeta{{0, 3, 10, 13, 99}}}}))
	f.Add(encodeTxnIndex(nil, AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 5, LastStableOffset: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeTxnIndex(b)
		ps, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		if got := encodeSnapshot(ps); string(got) != string(b) {
			t.Fatalf("snapshot does not round-trip")
		}
	})
}
