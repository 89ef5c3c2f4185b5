package groups

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/test/harness"
)

// fastClassic starts classic rebalances at once and allows short sessions.
var fastClassic = harness.WithArgs(
	"--set", "group.initial.rebalance.delay.ms=0",
	"--set", "group.min.session.timeout.ms=1000",
)

func setup(t *testing.T, b *harness.Broker, records int) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl := b.Client()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, topic, records)
	return cl, adm
}

// TestCommitRestartResume commits part of a topic, restarts the broker
// (gracefully and by SIGKILL right after the commit was acknowledged), and
// checks that a new member of the group resumes exactly at the committed
// offsets: no record again, none skipped.
func TestCommitRestartResume(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "SIGTERM", true: "SIGKILL"}[kill], func(t *testing.T) {
			const total = 120
			b := harness.Start(t, fastClassic)
			_, adm := setup(t, b, total)
			ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
			defer cancel()
			const g = "resume"
			cl := b.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1))
			first := make(map[string]bool)
			for len(first) < 50 && ctx.Err() == nil {
				fs := cl.PollRecords(ctx, 50-len(first))
				var recs []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) {
					first[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = true
					recs = append(recs, r)
				})
				if err := cl.CommitRecords(ctx, recs...); err != nil {
					t.Fatalf("commit: %v", err)
				}
			}
			committed, err := adm.FetchOffsets(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			if kill {
				b.Kill()
			} else {
				cl.Close()
				if err := b.Stop(); err != nil {
					t.Fatalf("graceful stop: %v", err)
				}
			}
			b.Restart()
			if kill {
				cl.Close()
			}
			adm2 := kadm.NewClient(b.Client())
			after, err := adm2.FetchOffsets(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			committed.Each(func(o kadm.OffsetResponse) {
				sum += o.At
				a, ok := after.Lookup(o.Topic, o.Partition)
				if !ok || a.At != o.At || a.LeaderEpoch != o.LeaderEpoch {
					t.Errorf("%s/%d committed %d (epoch %d) before the restart, %+v after", o.Topic, o.Partition, o.At, o.LeaderEpoch, a)
				}
			})
			if sum != int64(len(first)) {
				t.Errorf("committed offsets sum to %d, consumed %d", sum, len(first))
			}

			cl2 := b.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			defer cl2.Close()
			firstSeen := make(map[int32]int64)
			rest := make(map[string]bool)
			for len(first)+len(rest) < total && ctx.Err() == nil {
				cl2.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
					if first[k] || rest[k] {
						t.Errorf("record %s consumed again after the restart", k)
					}
					rest[k] = true
					if _, ok := firstSeen[r.Partition]; !ok {
						firstSeen[r.Partition] = r.Offset
					}
				})
			}
			if len(first)+len(rest) != total {
				t.Fatalf("consumed %d + %d records, want %d", len(first), len(rest), total)
			}
			for p, off := range firstSeen {
				if c, ok := committed.Lookup(topic, p); ok && c.At != off {
					t.Errorf("partition %d resumed at %d, committed %d", p, off, c.At)
				}
			}
		})
	}
}

// assigned tracks a member's partitions through its callbacks.
type assigned struct {
	mu                 sync.Mutex
	now                map[int32]bool
	revoked, additions []int32
	rounds             int
}

func (a *assigned) opts() []kgo.Opt {
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.now == nil {
				a.now = make(map[int32]bool)
			}
			a.rounds++
			for _, p := range m[topic] {
				a.now[p] = true
				a.additions = append(a.additions, p)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, p := range m[topic] {
				delete(a.now, p)
				a.revoked = append(a.revoked, p)
			}
		}),
	}
}

func (a *assigned) snapshot() (now, revoked []int32, rounds int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p := range a.now {
		now = append(now, p)
	}
	slices.Sort(now)
	return now, slices.Clone(a.revoked), a.rounds
}

func pollLoop(ctx context.Context, cl *kgo.Client) {
	go func() {
		for {
			if fs := cl.PollFetches(ctx); fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
		}
	}()
}

// TestStaticMemberRestartWithoutRebalance restarts a static member
// (group.instance.id, KIP-345) within its session timeout: it gets its old
// partitions back and the other member sees no rebalance.
func TestStaticMemberRestartWithoutRebalance(t *testing.T) {
	b := harness.Start(t, fastClassic)
	_, adm := setup(t, b, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	const g = "static"
	member := func(instance string, a *assigned) *kgo.Client {
		cl := b.Client(append(a.opts(), kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ClientID(instance),
			kgo.InstanceID(instance), kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(300*time.Millisecond))...)
		pollLoop(ctx, cl)
		return cl
	}
	var a1, a2, s1 assigned
	c1 := member("s1", &a1)
	c2 := member("s2", &a2)
	defer c2.Close()
	waitGroup := func(ok func(map[string]int) bool) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for time.Now().Before(deadline) {
			if m := membersOf(t, adm, g); m != nil && ok(m) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("group %s never settled: %v", g, membersOf(t, adm, g))
	}
	waitGroup(func(m map[string]int) bool { return m["s1"] == 3 && m["s2"] == 3 })
	// Cooperative-sticky settles in two rounds: after one that revokes
	// partitions the members rejoin at once. Wait until the generation has
	// stayed the same for two seconds, so that a late second round is not
	// taken for a rebalance caused by the restart.
	for stable, last, deadline := 0, int32(-1), time.Now().Add(waitFor); stable < 4; stable++ {
		if time.Now().After(deadline) {
			t.Fatalf("group %s generation never settled", g)
		}
		time.Sleep(500 * time.Millisecond)
		if _, gen := c2.GroupMetadata(); gen != last {
			last, stable = gen, -1
		}
	}
	before1, _, _ := a1.snapshot()
	// revoked is cumulative: partitions s2 gave up while the group first
	// settled (cooperative-sticky) are not a rebalance after the restart.
	before2, revokedBefore2, rounds2 := a2.snapshot()
	_, gen2 := c2.GroupMetadata()

	c1.Close() // a static member does not leave the group
	c1b := member("s1", &s1)
	defer c1b.Close()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if now, _, _ := s1.snapshot(); len(now) == 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a rebalance, if one were triggered, would show by now
	now1, _, _ := s1.snapshot()
	if !slices.Equal(now1, before1) {
		t.Errorf("restarted static member got %v, had %v", now1, before1)
	}
	now2, revoked2, r2 := a2.snapshot()
	if _, gen := c2.GroupMetadata(); gen != gen2 || r2 != rounds2 || len(revoked2) != len(revokedBefore2) || !slices.Equal(now2, before2) {
		t.Errorf("the other member saw a rebalance: generation %d→%d, assign rounds %d→%d, revoked %v→%v, partitions %v→%v",
			gen2, gen, rounds2, r2, revokedBefore2, revoked2, before2, now2)
	}
}

// membersOf returns partitions per client id of a stable classic group.
func membersOf(t *testing.T, adm *kadm.Client, g string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, g)
	if err != nil || ds[g].State != "Stable" {
		return nil
	}
	out := make(map[string]int)
	for _, m := range ds[g].Members {
		if c, ok := m.Assigned.AsConsumer(); ok && c != nil {
			for _, tp := range c.Topics {
				out[m.ClientID] += len(tp.Partitions)
			}
		}
	}
	return out
}

// TestCooperativeStickyIncremental adds a member to a cooperative-sticky
// group (franz-go's default balancer): the first member gives up only the
// partitions the newcomer takes and keeps consuming the rest throughout.
func TestCooperativeStickyIncremental(t *testing.T) {
	b := harness.Start(t, fastClassic)
	_, adm := setup(t, b, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	const g = "coop"
	member := func(id string, a *assigned) *kgo.Client {
		cl := b.Client(append(a.opts(), kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ClientID(id),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.HeartbeatInterval(300*time.Millisecond))...)
		pollLoop(ctx, cl)
		return cl
	}
	var aa, ab, ac assigned
	a := member("a", &aa)
	defer a.Close()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if now, _, _ := aa.snapshot(); len(now) == partitions {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	bcl := member("b", &ab)
	defer bcl.Close()
	waitCoop := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for time.Now().Before(deadline) {
			if m := membersOf(t, adm, g); m != nil && fmt.Sprint(m) == fmt.Sprint(want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("group never reached %v: %v", want, membersOf(t, adm, g))
	}
	waitCoop(map[string]int{"a": 3, "b": 3})
	time.Sleep(time.Second)
	nowA, revokedA, _ := aa.snapshot()
	if len(revokedA) != 3 || len(nowA) != 3 {
		t.Errorf("a revoked %v and kept %v, want 3 and 3", revokedA, nowA)
	}
	for _, p := range revokedA {
		if slices.Contains(nowA, p) {
			t.Errorf("a had partition %d revoked and still owns it", p)
		}
	}
	ccl := member("c", &ac)
	defer ccl.Close()
	waitCoop(map[string]int{"a": 2, "b": 2, "c": 2})
	time.Sleep(time.Second)
	nowA2, revokedA2, _ := aa.snapshot()
	_, revokedB, _ := ab.snapshot()
	if len(revokedA2) != 4 || len(revokedB) != 1 {
		t.Errorf("after c joined: a revoked %v in all, b %v; want 4 and 1 (only what c takes)", revokedA2, revokedB)
	}
	for _, p := range nowA2 {
		if !slices.Contains(nowA, p) {
			t.Errorf("a gained partition %d while c joined", p)
		}
	}
}

// TestTwoGroupsEachSeeEverything: publish-subscribe. Two groups of two
// members on one topic each consume every record once.
func TestTwoGroupsEachSeeEverything(t *testing.T) {
	b := harness.Start(t, fastClassic)
	const total = 200
	setup(t, b, total)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	var seen [2]consumed
	var dups [2]int
	var mu sync.Mutex
	for gi, g := range []string{"pub", "sub"} {
		for _, id := range []string{"x", "y"} {
			cl := b.Client(kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ClientID(id),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			defer cl.Close()
			go func() {
				for {
					fs := cl.PollFetches(ctx)
					if fs.IsClientClosed() || ctx.Err() != nil {
						return
					}
					fs.EachRecord(func(r *kgo.Record) {
						if seen[gi].add(id, r) {
							mu.Lock()
							dups[gi]++
							mu.Unlock()
						}
					})
				}
			}()
		}
	}
	deadline := time.Now().Add(waitFor)
	for (seen[0].distinct() < total || seen[1].distinct() < total) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for gi := range seen {
		if n := seen[gi].distinct(); n != total {
			t.Errorf("group %d consumed %d distinct records, want %d", gi, n, total)
		}
		seen[gi].mu.Lock()
		if len(seen[gi].by) != 2 {
			t.Logf("group %d: records by member %v (a member may have joined late)", gi, seen[gi].by)
		}
		seen[gi].mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	if dups[0]+dups[1] > 0 {
		t.Logf("re-deliveries during rebalances: %v (at-least-once)", dups)
	}
}

// TestClassicErrors: Kafka's codes for an unknown member, a stale
// generation and a commit to an unknown topic.
func TestClassicErrors(t *testing.T) {
	b := harness.Start(t, fastClassic)
	cl, _ := setup(t, b, 0)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "errs", "consumer", 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	jr, err := join.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = jr.MemberID
		if jr, err = join.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if jr.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "errs", jr.MemberID, jr.Generation
	if sr, err := sync.RequestWith(ctx, cl); err != nil || sr.ErrorCode != 0 {
		t.Fatalf("sync: %v %v", err, sr)
	}
	hb := func(member string, gen int32) error {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.MemberID, r.Generation = "errs", member, gen
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	commit := func(member string, gen int32, tpc string) error {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.MemberID, r.Generation = "errs", member, gen
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = tpc
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	f := func(name string, got, want error) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	f("heartbeat", hb(jr.MemberID, jr.Generation), nil)
	f("heartbeat unknown member", hb("nobody", jr.Generation), kerr.UnknownMemberID)
	f("heartbeat stale generation", hb(jr.MemberID, jr.Generation-1), kerr.IllegalGeneration)
	f("commit", commit(jr.MemberID, jr.Generation, topic), nil)
	f("commit stale generation", commit(jr.MemberID, jr.Generation+5, topic), kerr.IllegalGeneration)
	f("commit unknown member", commit("nobody", jr.Generation, topic), kerr.UnknownMemberID)
	f("commit unknown topic", commit(jr.MemberID, jr.Generation, "no-such-topic"), kerr.UnknownTopicOrPartition)
	join.ProtocolType = "connect"
	jr2, err := join.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	f("join with another protocol type", kerr.ErrorForCode(jr2.ErrorCode), kerr.InconsistentGroupProtocol)
}
