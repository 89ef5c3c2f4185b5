package group

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Benchmarks of the coordinator itself (in-memory log, no network): the
// broker-side cost of a rebalance and of a commit. Compare each
// members=50 figure with members=1 of the same run (docs/benchmarks.md).
//
//	go test ./internal/group -run - -bench . -benchtime 20x

const benchPartitions = 500

// BenchmarkRebalance848 brings members into an empty KIP-848 group over one
// topic of 500 partitions and heartbeats every member, owning what it was
// given, until all are stable at the assignment epoch. It reports the
// heartbeats that took.
func BenchmarkRebalance848(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			topics := mkTopics(map[string]int32{"t": benchPartitions})
			var heartbeats int
			for b.Loop() {
				b.StopTimer()
				h := newConsumerHarness(&testing.T{}, topics)
				b.StartTimer()
				heartbeats += run848(b, h, n)
			}
			b.ReportMetric(float64(heartbeats)/float64(b.N), "heartbeats/op")
		})
	}
}

func run848(b *testing.B, h *harness, n int) int {
	type state struct {
		epoch int32
		owned []TopicPartitions
	}
	ms := make([]state, n)
	hbs := 0
	for i := range ms {
		r := h.hb("g", fmt.Sprintf("m%02d", i), 0, nil)
		hbs++
		if r.Err != nil {
			b.Fatal(r.Err)
		}
		ms[i] = state{r.MemberEpoch, r.Assignment}
	}
	for round := 0; ; round++ {
		if round > 20 {
			b.Fatalf("not stable after %d rounds", round)
		}
		s := h.describe848("g")
		if s.State == Stable {
			return hbs
		}
		for i := range ms {
			r := h.hb("g", fmt.Sprintf("m%02d", i), ms[i].epoch, ms[i].owned)
			hbs++
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			ms[i].epoch = r.MemberEpoch
			if r.Assignment != nil {
				ms[i].owned = r.Assignment
			}
		}
	}
}

// BenchmarkRebalanceClassic runs one classic rebalance of members over an
// empty group: every JoinGroup, then the leader's SyncGroup with an
// assignment of 500 partitions, then every follower's SyncGroup.
func BenchmarkRebalanceClassic(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				h := newHarness(&testing.T{}, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
				b.StartTimer()
				runClassic(b, h, n)
			}
		})
	}
}

func runClassic(b *testing.B, h *harness, n int) {
	// Members first get their ids (KIP-394), then join for real.
	ps := make([]*pending[JoinResult], n)
	for i := range ps {
		req := joinReq("g", "", fmt.Sprintf("c%02d", i))
		req.RequireKnownMemberID = true
		p := h.join(req)
		if p.err != nil || !p.done {
			b.Fatalf("first join: %v", p.err)
		}
		ps[i] = h.join(joinReq("g", p.res.MemberID, fmt.Sprintf("c%02d", i)))
	}
	// The initial delay (group.initial.rebalance.delay.ms) gathers them into
	// one generation; it ends once a delay passes with no new member.
	for i := 0; i < 12 && !ps[n-1].done; i++ {
		h.advance(3 * time.Second)
	}
	var leader JoinResult
	for _, p := range ps {
		if !p.done || p.res.Err != nil {
			b.Fatalf("join: %+v", p.res)
		}
		if p.res.MemberID == p.res.Leader {
			leader = p.res
		}
	}
	assignments := make(map[string][]byte, n)
	for i, m := range leader.Members {
		assignments[m.MemberID] = make([]byte, 4*benchPartitions/n+i%2)
	}
	var syncs []*pending[SyncResult]
	syncs = append(syncs, h.sync(SyncRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation, Assignments: assignments}))
	for _, p := range ps {
		if p.res.MemberID != leader.MemberID {
			syncs = append(syncs, h.sync(SyncRequest{Group: "g", MemberID: p.res.MemberID, Generation: p.res.Generation}))
		}
	}
	for _, s := range syncs {
		if s.err != nil || !s.done || s.res.Err != nil {
			b.Fatalf("sync: %v %+v", s.err, s.res)
		}
	}
}

// BenchmarkCommit commits one offset per request to one group (the
// coordinator's work without disk: replies wait for an in-memory log).
func BenchmarkCommit(b *testing.B) {
	h := newHarness(&testing.T{})
	ctx := context.Background()
	i := int64(0)
	for b.Loop() {
		i++
		_, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1,
			Offsets: map[TopicPartition]Offset{{"t", int32(i % 8)}: {Offset: i, LeaderEpoch: -1}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}
