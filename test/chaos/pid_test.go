package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProducerIDsUniqueAcrossBrokers: idempotent producers that get their
// producer id from different brokers must not share it. With a per-broker
// counter every broker started at id 0; two producers with one id and
// epoch then look like one producer to the partition leader, which takes
// the second one's batches for retries of the first's, drops them and acks
// them with the first's offsets (found by F0: acked writes lost, acks at
// one offset with two values).
func TestProducerIDsUniqueAcrossBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	c := startCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := c.freshClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int64]int{}
	for _, nd := range c.nodes {
		for range 2 {
			var resp *kmsg.InitProducerIDResponse
			if _, err := eventually(ctx, 30*time.Second, func() (err error) {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.ProducerID, req.ProducerEpoch = -1, -1
				resp, err = req.RequestWith(ctx, cl.Broker(nd.ID))
				if err == nil && resp.ErrorCode != 0 {
					err = kmsgErr(resp.ErrorCode)
				}
				return err
			}); err != nil {
				t.Fatalf("node %d: InitProducerID: %v", nd.ID, err)
			}
			if prev, ok := seen[resp.ProducerID]; ok {
				t.Errorf("producer id %d handed out by node %d and node %d", resp.ProducerID, prev, nd.ID)
			}
			seen[resp.ProducerID] = nd.ID
		}
	}
}
