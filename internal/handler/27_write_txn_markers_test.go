package handler

import (
	"context"
	"testing"

	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/txn"
)

// TestWriteMarkersWithoutLocalLog: a marker for a partition the metadata
// still has, led here, but with no local log (its replica not made yet) is
// an error the coordinator retries; reporting it done would leave the
// producer's transaction open there, and its next abort marker would hide
// the committed records. A partition gone from the metadata (a deleted
// topic) is done, as in Kafka.
func TestWriteMarkersWithoutLocalLog(t *testing.T) {
	im := &metadata.Image{Topics: map[string]*metadata.Topic{
		"t": {Name: "t", Partitions: []metadata.Partition{{Leader: 1, LeaderEpoch: 3}}},
	}}
	h := New(Deps{NodeID: 1, Image: func() *metadata.Image { return im }})
	here, gone := txn.TopicPartition{Topic: "t", Partition: 0}, txn.TopicPartition{Topic: "deleted", Partition: 0}
	errs := h.WriteMarkers(context.Background(), txn.MarkerRequest{
		ProducerID: 7, Commit: true, Partitions: []txn.TopicPartition{here, gone},
	})
	if errs[here] == nil {
		t.Errorf("marker for %v without a local log reported written", here)
	}
	if err, ok := errs[gone]; !ok || err != nil {
		t.Errorf("marker for a deleted topic: %v (reported %v), want done", err, ok)
	}
}
