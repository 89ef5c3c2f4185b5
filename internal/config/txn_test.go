package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTxnKeys(t *testing.T) {
	b := Defaults()
	want := Txn{
		MaxTimeoutMs: 900000, StateLogNumPartitions: 50, StateLogReplicationFactor: 3, StateLogSegmentBytes: 104857600,
		AbortTimedOutCleanupIntervalMs: 10000, RemoveExpiredCleanupIntervalMs: 3600000, PartitionVerification: true,
		TransactionalIDExpirationMs: 604800000, ProducerIDExpirationMs: 86400000,
	}
	if diff := cmp.Diff(want, b.Txn); diff != "" {
		t.Errorf("Defaults().Txn (-want +got):\n%s", diff)
	}
	if err := b.Set("transaction.max.timeout.ms", "60000"); err != nil || b.Txn.MaxTimeoutMs != 60000 {
		t.Errorf("set transaction.max.timeout.ms: %v, %d", err, b.Txn.MaxTimeoutMs)
	}
	if err := b.Set("transaction.state.log.num.partitions", "0"); err == nil {
		t.Error("transaction.state.log.num.partitions=0 accepted")
	}
	if err := b.Set("transaction.partition.verification.enable", "false"); err != nil || b.Txn.PartitionVerification {
		t.Errorf("set transaction.partition.verification.enable: %v", err)
	}
}
