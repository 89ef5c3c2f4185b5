package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// directTransport delivers fetches to managers in memory.
type directTransport map[int32]*Manager

func (d directTransport) Fetch(ctx context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	m := d[broker]
	if m == nil {
		return nil, fmt.Errorf("no broker %d", broker)
	}
	return m.ServeReplicaFetch(ctx, req.ReplicaID, req, nil), nil
}

// TestFollowerBehindLeaderLogStart: the leader deleted the records a new
// follower would fetch first (DeleteRecords, retention); the follower gets
// OFFSET_OUT_OF_RANGE, restarts its log at the leader's log start offset
// (or the base of the leader's first batch) and catches up from there.
func TestFollowerBehindLeaderLogStart(t *testing.T) {
	for _, perBatch := range []int{1, 10} {
		t.Run(fmt.Sprintf("%d records per batch", perBatch), func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
			open := func() *commitlog.Log {
				l, err := commitlog.Open(vfs.NewMem(), "/data/t-0", commitlog.DefaultConfig(), commitlog.Options{Clock: clk, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				return l
			}
			ll, fl := open(), open()
			tr := directTransport{}
			leader := NewManager(Config{NodeID: 1, Clock: clk, Logger: quiet})
			follower := NewManager(Config{NodeID: 2, Clock: clk, Logger: quiet, Transport: tr})
			tr[1] = leader
			st := State{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}
			if err := leader.Apply("t", 0, ll, st); err != nil {
				t.Fatal(err)
			}
			lp := leader.Partition("t", 0)
			for i := 0; i < 40; i += perBatch {
				b := record.NewBuilder(record.BuilderOptions{BaseTimestamp: clk.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
				for j := range perBatch {
					b.Add(record.Record{OffsetDelta: int32(j), Value: []byte(fmt.Sprint(i + j))})
				}
				batch, err := b.Build(nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := lp.AppendAsLeader(batch, 1, 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := ll.Flush(); err != nil {
				t.Fatal(err)
			}
			lp.LeaderDurable()
			if _, err := ll.DeleteRecordsBefore(25); err != nil {
				t.Fatal(err)
			}
			if err := follower.Apply("t", 0, fl, st); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				if _, err := FetchOnce(context.Background(), follower, 1, tr, 0); err != nil {
					t.Logf("fetch: %v", err)
				}
			}
			wantStart := int64(25)
			if perBatch == 10 {
				wantStart = 20 // the batch holding offset 25
			}
			if s, e := fl.LogStartOffset(), fl.LogEndOffset(); s != wantStart || e != 40 {
				t.Fatalf("follower log [%d, %d), want [%d, 40)", s, e, wantStart)
			}
			if got := lp.Snapshot().PendingISR; len(got) != 2 {
				t.Errorf("leader's pending ISR %v, want the follower proposed once caught up", got)
			}
		})
	}
}
