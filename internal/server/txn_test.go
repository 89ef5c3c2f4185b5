package server

import (
	"testing"
	"time"

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
