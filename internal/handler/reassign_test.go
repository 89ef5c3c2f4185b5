package handler

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// TestPartitionReassignmentAPIs: AlterPartitionReassignments and
// ListPartitionReassignments on a single node: a no-op target, a cancel
// without a reassignment, unknown partitions and brokers, and KIP-860's
// replication factor guard.
func TestPartitionReassignmentAPIs(t *testing.T) {
	h, meta := newAdmin(t, nil)
	if _, err := meta.CreateTopic(metadata.CreateTopicRequest{Name: "t", Partitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	alter := func(v int16, allowRF bool, parts map[int32][]int32) map[int32]int16 {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.AllowReplicationFactorChange = allowRF
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = "t"
		for p, r := range parts {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = p, r
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := call[*kmsg.AlterPartitionAssignmentsResponse](t, h, v, req)
		if resp.ErrorCode != 0 {
			t.Fatalf("top-level error %d", resp.ErrorCode)
		}
		out := map[int32]int16{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[rp.Partition] = rp.ErrorCode
			}
		}
		return out
	}
	got := alter(1, true, map[int32][]int32{0: {1}, 1: nil, 7: {1}})
	want := map[int32]int16{0: 0, 1: kerr.NoReassignmentInProgress.Code, 7: kerr.UnknownTopicOrPartition.Code}
	for p, code := range want {
		if got[p] != code {
			t.Errorf("partition %d: code %d, want %d", p, got[p], code)
		}
	}
	got = alter(0, true, map[int32][]int32{0: {1, 9}, 1: {1, 1}})
	for p := range int32(2) {
		if got[p] != kerr.InvalidReplicaAssignment.Code {
			t.Errorf("bad target of partition %d: code %d, want INVALID_REPLICA_ASSIGNMENT", p, got[p])
		}
	}
	if got = alter(1, false, map[int32][]int32{0: {1, 2}}); got[0] != kerr.InvalidReplicationFactor.Code {
		t.Errorf("RF change refused by allowReplicationFactorChange=false: code %d, want INVALID_REPLICATION_FACTOR", got[0])
	}

	list := kmsg.NewPtrListPartitionReassignmentsRequest()
	if resp := call[*kmsg.ListPartitionReassignmentsResponse](t, h, 0, list); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("list: %+v, want no reassignment", resp)
	}
	if p := meta.Image().Topic("t").Partitions[0]; len(p.Replicas) != 1 || p.AddingReplicas != nil {
		t.Errorf("partition 0 after a no-op target: %+v", p)
	}
}
