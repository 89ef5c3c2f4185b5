package metadata

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// localQuorum is a one-voter quorum that is always the leader: a proposal
// commits and applies at once, on the caller's goroutine. It runs the
// controller's state machine without raft.
type localQuorum struct {
	s *Store

	mu    sync.Mutex
	index uint64 // guarded by mu
}

func (q *localQuorum) Propose(_ context.Context, data []byte) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.index++
	q.s.ApplyCommitted(q.index, data)
	return q.index, nil
}

func (q *localQuorum) ReadIndex(context.Context) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.index, nil
}

func (q *localQuorum) Status() QuorumStatus {
	return QuorumStatus{NodeID: 1, Leader: 1, Term: 1, IsLeader: true, Voters: []int32{1}}
}

func (q *localQuorum) AddLearner(context.Context, int32, string) error { return nil }

// newControllerStore returns a cluster-mode store on its own local quorum
// with brokers 1..n registered and unfenced, and their epochs.
func newControllerStore(t *testing.T, n int) (*Store, map[int32]int64) {
	t.Helper()
	return newControllerStoreWith(t, n, Options{}, QuorumOptions{})
}

// newControllerStoreWith is newControllerStore with the given options
// (ClusterID and Rand are filled in).
func newControllerStoreWith(t *testing.T, n int, opts Options, qo QuorumOptions) (*Store, map[int32]int64) {
	t.Helper()
	opts.ClusterID, opts.Rand = "c1", newRand(1)
	s, err := OpenReplicated(vfs.NewMem(), "/data", opts, qo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetQuorum(&localQuorum{s: s}, nil)
	epochs := map[int32]int64{}
	for id := int32(1); id <= int32(n); id++ {
		epoch, err := s.RegisterBroker(BrokerRegistration{Broker: Broker{NodeID: id, Host: "127.0.0.1", Port: 9000 + id}})
		if err != nil {
			t.Fatalf("register %d: %v", id, err)
		}
		epochs[id] = epoch
		heartbeat(t, s, Heartbeat{NodeID: id, Epoch: epoch, MetadataOffset: s.Image().Offset})
	}
	if got := len(s.Image().Brokers); got != n {
		t.Fatalf("%d live brokers, want %d", got, n)
	}
	return s, epochs
}

func heartbeat(t *testing.T, s *Store, hb Heartbeat) HeartbeatResult {
	t.Helper()
	res, err := s.BrokerHeartbeat(hb)
	if err != nil {
		t.Fatalf("heartbeat %+v: %v", hb, err)
	}
	return res
}

// TestLogDirOffline: a broker that reports its log directory offline loses
// every leadership to another ISR member and leaves every ISR (KIP-858), is
// no longer live (not in Metadata, not electable, not re-admitted to an ISR,
// not given new replicas) while it keeps heartbeating, and is whole again
// only after it registers again.
func TestLogDirOffline(t *testing.T) {
	s, epochs := newControllerStore(t, 3)
	assign := map[int32][]int32{0: {1, 2, 3}, 1: {2, 1, 3}, 2: {1, 3, 2}, 3: {3, 2, 1}}
	if _, err := s.CreateTopic(CreateTopicRequest{Name: "t", Partitions: -1, ReplicationFactor: -1, Assignment: assign}, false); err != nil {
		t.Fatal(err)
	}
	before := s.Image().Topic("t").Partitions

	res := heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epochs[1], MetadataOffset: s.Image().Offset, LogDirOffline: true})
	if res.IsFenced || res.ShouldShutdown {
		t.Errorf("heartbeat result %+v: an offline log dir neither fences nor shuts down", res)
	}
	im := s.Image()
	reg := im.Registration(1)
	if reg == nil || !reg.LogDirOffline || reg.Fenced {
		t.Fatalf("registration of broker 1: %+v, want log dir offline, not fenced", reg)
	}
	if im.Live(1) || im.Broker(1) != nil {
		t.Errorf("broker 1 is still live or listed: %+v", im.Brokers)
	}
	for i, p := range im.Topic("t").Partitions {
		if p.Leader == 1 || slices.Contains(p.ISR, 1) {
			t.Errorf("partition %d: leader %d ISR %v still hold broker 1", i, p.Leader, p.ISR)
		}
		if was := before[i]; was.Leader == 1 && p.LeaderEpoch != was.LeaderEpoch+1 {
			t.Errorf("partition %d: leader epoch %d, want %d", i, p.LeaderEpoch, was.LeaderEpoch+1)
		}
	}
	if p := im.Topic("t").Partitions[0]; p.Leader != 2 || !slices.Equal(p.ISR, []int32{2, 3}) {
		t.Errorf("partition 0: leader %d ISR %v, want 2 and [2 3]", p.Leader, p.ISR)
	}

	// Further heartbeats, offline or not, change nothing: the directory
	// comes back only with a new incarnation of the broker.
	off := im.Offset
	heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epochs[1], MetadataOffset: off, LogDirOffline: true})
	heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epochs[1], MetadataOffset: off})
	if got := s.Image().Offset; got != off {
		t.Errorf("heartbeats of an offline broker wrote metadata (offset %d → %d)", off, got)
	}

	// A leader may not bring it back into an ISR (KIP-841's check).
	p := s.Image().Topic("t").Partitions[0]
	err := s.AlterPartition("t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, []int32{2, 3, 1})
	if !errors.Is(err, ErrIneligibleReplica) {
		t.Errorf("AlterPartition adding the offline broker: %v, want ErrIneligibleReplica", err)
	}
	// New replicas are not placed on it.
	if _, err := s.CreateTopic(CreateTopicRequest{Name: "u", Partitions: 1, ReplicationFactor: 3}, false); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Errorf("RF 3 with 2 live brokers: %v, want ErrInvalidReplicationFactor", err)
	}

	// The state survives a snapshot.
	data, err := s.SnapshotData()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := OpenReplicated(vfs.NewMem(), "/data", Options{ClusterID: "c1", Rand: newRand(2)}, QuorumOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.RestoreSnapshot(uint64(s.Image().Offset), data); err != nil {
		t.Fatal(err)
	}
	if r := s2.Image().Registration(1); r == nil || !r.LogDirOffline || s2.Image().Live(1) {
		t.Errorf("after a snapshot, broker 1: %+v", r)
	}

	// The broker restarts (its logs recovered) and registers again: the new
	// incarnation is live once caught up, and rejoins as a follower.
	epoch, err := s.RegisterBroker(BrokerRegistration{Broker: Broker{NodeID: 1, Host: "127.0.0.1", Port: 9001}})
	if err != nil {
		t.Fatal(err)
	}
	heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epoch, MetadataOffset: s.Image().Offset})
	im = s.Image()
	if r := im.Registration(1); r == nil || r.LogDirOffline || r.Fenced || !im.Live(1) {
		t.Fatalf("re-registered broker 1: %+v, live %v", r, im.Live(1))
	}
	p = im.Topic("t").Partitions[0]
	if err := s.AlterPartition("t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, []int32{2, 3, 1}); err != nil {
		t.Errorf("AlterPartition adding the recovered broker: %v", err)
	}
}

// TestLogDirOfflineSoleISRMember: a partition whose only ISR member's log
// directory fails has no leader (no unclean election by default) and keeps
// its ISR, so that the broker leads it again once it comes back.
func TestLogDirOfflineSoleISRMember(t *testing.T) {
	s, epochs := newControllerStore(t, 2)
	if _, err := s.CreateTopic(CreateTopicRequest{Name: "t", Partitions: -1, ReplicationFactor: -1, Assignment: map[int32][]int32{0: {1, 2}}}, false); err != nil {
		t.Fatal(err)
	}
	p := s.Image().Topic("t").Partitions[0]
	if err := s.AlterPartition("t", 0, 1, p.LeaderEpoch, p.PartitionEpoch, []int32{1}); err != nil {
		t.Fatal(err)
	}
	heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epochs[1], MetadataOffset: s.Image().Offset, LogDirOffline: true})
	p = s.Image().Topic("t").Partitions[0]
	if p.Leader != -1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("leader %d ISR %v, want no leader and ISR [1]", p.Leader, p.ISR)
	}
	// The controller's tick elects nobody: broker 1 is not live.
	if recs := s.electLeaderless(s.Image()); len(recs) != 0 {
		t.Errorf("elections for an offline sole ISR member: %+v", recs)
	}
	epoch, err := s.RegisterBroker(BrokerRegistration{Broker: Broker{NodeID: 1, Host: "127.0.0.1", Port: 9001}})
	if err != nil {
		t.Fatal(err)
	}
	heartbeat(t, s, Heartbeat{NodeID: 1, Epoch: epoch, MetadataOffset: s.Image().Offset})
	if p := s.Image().Topic("t").Partitions[0]; p.Leader != 1 {
		t.Errorf("after re-registration: leader %d, want 1", p.Leader)
	}
}
