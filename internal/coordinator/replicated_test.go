package coordinator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/vfs"
)

type directTransport map[int32]*replica.Manager

func (d directTransport) Fetch(ctx context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	m := d[broker]
	if m == nil {
		return nil, fmt.Errorf("no broker %d", broker)
	}
	return m.ServeReplicaFetch(ctx, req.ReplicaID, req, nil), nil
}

// TestReplicatedLog: a coordinator write is acknowledged only once the
// follower in the ISR has it, and the log stops working (ErrNotLeader) as
// soon as the leadership moves.
func TestReplicatedLog(t *testing.T) {
	clk := clock.Real
	open := func() *commitlog.Log {
		cfg := commitlog.DefaultConfig()
		cfg.CleanupCompact, cfg.CleanupDelete = true, false
		l, err := commitlog.Open(vfs.NewMem(), "/data/__consumer_offsets-0", cfg, commitlog.Options{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	l1, l2 := open(), open()
	tr := directTransport{}
	m1 := replica.NewManager(replica.Config{NodeID: 1, Clock: clk})
	m2 := replica.NewManager(replica.Config{NodeID: 2, Clock: clk, Transport: tr})
	tr[1] = m1
	st := replica.State{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	for _, x := range []struct {
		m *replica.Manager
		l *commitlog.Log
	}{{m1, l1}, {m2, l2}} {
		if err := x.m.Apply("__consumer_offsets", 0, x.l, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewReplicatedLog(m2.Partition("__consumer_offsets", 0), clk, nil); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("open on the follower: %v, want ErrNotLeader", err)
	}
	rl, err := NewReplicatedLog(m1.Partition("__consumer_offsets", 0), clk, func() int { return 2 })
	if err != nil {
		t.Fatal(err)
	}
	if rl.LeaderEpoch() != 4 {
		t.Fatalf("leader epoch %d, want 4", rl.LeaderEpoch())
	}
	last, err := rl.Append([]Record{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte("k2"), Value: []byte("v2")}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- rl.WaitDurable(ctx, last)
	}()
	select {
	case err := <-done:
		t.Fatalf("acknowledged before the follower fetched: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	for range 3 { // records, then the fetch that reports them held
		if _, err := replica.FetchOnce(context.Background(), m2, 1, tr, 0); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not acknowledged after the follower caught up")
	}
	if e := l2.LogEndOffset(); e != last+1 {
		t.Fatalf("follower log end %d, want %d", e, last+1)
	}
	if err := rl.Current(); err != nil {
		t.Fatal(err)
	}

	// Leadership moves to broker 2: the log is no longer current and
	// refuses appends.
	st2 := replica.State{Leader: 2, LeaderEpoch: 5, PartitionEpoch: 10, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if err := m1.Apply("__consumer_offsets", 0, l1, st2); err != nil {
		t.Fatal(err)
	}
	if err := rl.Current(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Current after the move: %v, want ErrNotLeader", err)
	}
	if _, err := rl.Append([]Record{{Key: []byte("k")}}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Append after the move: %v, want ErrNotLeader", err)
	}
	if err := Current(NewMemLog()); err != nil {
		t.Fatalf("a MemLog is always current: %v", err)
	}
}
