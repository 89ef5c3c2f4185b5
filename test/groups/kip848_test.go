package groups

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/test/harness"
)

// fast848 makes KIP-848 heartbeats and session timeouts short enough for
// tests.
var fast848 = harness.WithArgs(
	"--set", "group.consumer.heartbeat.interval.ms=300",
	"--set", "group.consumer.min.heartbeat.interval.ms=100",
	"--set", "group.consumer.session.timeout.ms=6000",
	"--set", "group.consumer.min.session.timeout.ms=1000",
)

// describe848 sends ConsumerGroupDescribe and returns the group.
func describe848(t *testing.T, cl *kgo.Client, g string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{g}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ConsumerGroupDescribe: %v", err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("ConsumerGroupDescribe: %d groups, want 1", len(resp.Groups))
	}
	return resp.Groups[0]
}

// assignment848 returns, for a stable group, the partition count by client
// id; nil while the group is not stable or a partition is assigned twice.
func assignment848(t *testing.T, cl *kgo.Client, g string) map[string]int {
	t.Helper()
	d := describe848(t, cl, g)
	if d.ErrorCode != 0 || d.State != "Stable" {
		return nil
	}
	out := make(map[string]int)
	seen := make(map[string]bool)
	for _, m := range d.Members {
		out[m.ClientID] += 0
		for _, tp := range m.Assignment.TopicPartitions {
			for _, p := range tp.Partitions {
				k := fmt.Sprintf("%s/%d", tp.Topic, p)
				if seen[k] {
					t.Errorf("partition %s assigned twice in %+v", k, d)
					return nil
				}
				seen[k] = true
				out[m.ClientID]++
			}
		}
	}
	return out
}

func waitAssignment848(t *testing.T, cl *kgo.Client, g string, ok func(map[string]int) bool) map[string]int {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var last map[string]int
	for time.Now().Before(deadline) {
		if last = assignment848(t, cl, g); last != nil && ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s never reached the wanted assignment; last %v; describe %+v", g, last, describe848(t, cl, g))
	return nil
}

// consumed counts records by client id and remembers every (partition, offset) seen.
type consumed struct {
	mu     sync.Mutex
	by     map[string]int
	offset map[string]bool
}

// add records r and reports whether it was seen before.
func (c *consumed) add(client string, r *kgo.Record) (dup bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by, c.offset = make(map[string]int), make(map[string]bool)
	}
	c.by[client]++
	k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
	dup = c.offset[k]
	c.offset[k] = true
	return dup
}

func (c *consumed) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.offset)
}

func produce(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i), Partition: int32(i % partitions)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// consume848 starts a KIP-848 member that polls until ctx ends or it is closed.
func consume848(t *testing.T, b *harness.Broker, ctx context.Context, g, id string, c *consumed, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.ClientID(id), kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, extra...)
	cl := b.Client(opts...)
	go func() {
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { c.add(id, r) })
		}
	}()
	return cl
}

// TestKIP848GroupSplitsRebalancesAndCommits runs franz-go's next-gen
// consumer (ServerSideBalancer → ConsumerGroupHeartbeat, uniform assignor)
// against the broker: members split the partitions, a joiner takes half
// without a partition ever being owned twice, a leaver's partitions move,
// offsets commit with member epochs.
func TestKIP848GroupSplitsRebalancesAndCommits(t *testing.T) {
	b := harness.Start(t, fast848)
	admCl := b.Client()
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produce(t, admCl, topic, 60)
	const g = "next-gen"
	var c consumed
	a := consume848(t, b, ctx, g, "a", &c)
	waitAssignment848(t, admCl, g, func(m map[string]int) bool { return m["a"] == partitions })
	bcl := consume848(t, b, ctx, g, "b", &c)
	got := waitAssignment848(t, admCl, g, func(m map[string]int) bool { return len(m) == 2 && m["a"] == 3 && m["b"] == 3 })
	t.Logf("two members: %v", got)
	d := describe848(t, admCl, g)
	if d.AssignorName != "uniform" || d.Epoch < 2 || d.AssignmentEpoch != d.Epoch {
		t.Errorf("describe: assignor %q epoch %d assignment epoch %d, want uniform, ≥2, equal", d.AssignorName, d.Epoch, d.AssignmentEpoch)
	}
	for _, m := range d.Members {
		if m.MemberEpoch != d.AssignmentEpoch {
			t.Errorf("member %s epoch %d, want the assignment epoch %d", m.ClientID, m.MemberEpoch, d.AssignmentEpoch)
		}
	}
	deadline := time.Now().Add(waitFor)
	for c.distinct() < 60 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := c.distinct(); n != 60 {
		t.Fatalf("consumed %d distinct records, want 60", n)
	}
	if err := bcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit from b: %v", err)
	}
	bcl.Close() // leaves with epoch -1; a gets everything
	waitAssignment848(t, admCl, g, func(m map[string]int) bool { return len(m) == 1 && m["a"] == partitions })
	if err := a.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit from a: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 60 {
		t.Errorf("committed offsets sum to %d, want 60: %v", total, offs)
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lg[g]; !ok || l.ProtocolType != "consumer" {
		t.Errorf("ListGroups %v: want %s listed with protocol type consumer", lg, g)
	}
	a.Close()
	waitEmpty(t, admCl, g)
}

func waitEmpty(t *testing.T, cl *kgo.Client, g string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if d := describe848(t, cl, g); d.State == "Empty" && len(d.Members) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s never became empty: %+v", g, describe848(t, cl, g))
}

// TestKIP848Errors sends raw heartbeats for the cases a client gets wrong.
func TestKIP848Errors(t *testing.T) {
	b := harness.Start(t, fast848)
	cl := b.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	hb := func(mod func(r *kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = "raw", "m1", 0, 30000
		r.SubscribedTopicNames = []string{topic}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mod(r)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	f := func(name string, mod func(r *kmsg.ConsumerGroupHeartbeatRequest), want *kerr.Error) {
		t.Helper()
		resp := hb(mod)
		if got := kerr.ErrorForCode(resp.ErrorCode); got != want && !(want == nil && got == nil) {
			t.Errorf("%s: error %v, want %v", name, got, want)
		}
	}
	f("empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest)
	f("join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest)
	f("join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{Partitions: []int32{0}}}
	}, kerr.InvalidRequest)
	f("unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor)
	f("bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, kmsg.StringPtr("(")
	}, kerr.InvalidRegularExpression)
	f("epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest)
	f("unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group, r.MemberEpoch = "nobody", 5 }, kerr.GroupIDNotFound)

	join := hb(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if join.ErrorCode != 0 || join.MemberEpoch < 1 || join.Assignment == nil {
		t.Fatalf("join: %+v", join)
	}
	var ps []int32
	for _, tp := range join.Assignment.Topics {
		ps = append(ps, tp.Partitions...)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	if len(ps) != partitions {
		t.Errorf("lone member got partitions %v, want all %d", ps, partitions)
	}
	f("unknown member of a known group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "m2", 1 }, kerr.UnknownMemberID)
	f("epoch from the future", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = join.MemberEpoch + 1 }, kerr.FencedMemberEpoch)

	// A commit with a stale epoch and from an unknown member.
	commit := func(member string, epoch int32) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.MemberID, r.Generation = "raw", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit("m1", join.MemberEpoch); code != 0 {
		t.Errorf("commit at the member epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commit("m1", join.MemberEpoch+1); code != kerr.FencedMemberEpoch.Code {
		t.Errorf("commit from a future epoch: %v, want FENCED_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := commit("ghost", 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("commit from an unknown member: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	if code := commit("", -1); code != kerr.UnknownMemberID.Code {
		t.Errorf("admin commit to a group with members: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}

	// A classic JoinGroup to the consumer group is refused while it has members.
	jr := kmsg.NewPtrJoinGroupRequest()
	jr.Group, jr.ProtocolType, jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = "raw", "consumer", 10000, 10000
	jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	jresp, err := jr.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if jresp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("classic join to a consumer group: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(jresp.ErrorCode))
	}

	leave := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -1 })
	if leave.ErrorCode != 0 || leave.MemberEpoch != -1 {
		t.Errorf("leave: %+v", leave)
	}
	if d := describe848(t, cl, "raw"); d.State != "Empty" || len(d.Members) != 0 {
		t.Errorf("after leave: %+v", d)
	}
	if d := describe848(t, cl, "never"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("describe unknown group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(d.ErrorCode))
	}
}

// TestKIP848SurvivesBrokerRestart kills the broker under a stable next-gen
// group: after the restart the group is back from __consumer_offsets at the
// same epoch, the members carry on without a new assignment, and commits
// made before the kill are there.
func TestKIP848SurvivesBrokerRestart(t *testing.T) {
	b := harness.Start(t, fast848)
	admCl := b.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produce(t, admCl, topic, 60)
	const g = "next-gen-restart"
	var c consumed
	a := consume848(t, b, ctx, g, "a", &c)
	defer a.Close()
	bc := consume848(t, b, ctx, g, "b", &c)
	defer bc.Close()
	waitAssignment848(t, admCl, g, func(m map[string]int) bool { return m["a"] == 3 && m["b"] == 3 })
	for c.distinct() < 60 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	for _, cl := range []*kgo.Client{a, bc} {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	before := describe848(t, admCl, g)
	b.Kill()
	b.Restart()
	adm2 := b.Client()
	after := describe848(t, adm2, g)
	if after.Epoch != before.Epoch || len(after.Members) != 2 {
		t.Errorf("after the restart: epoch %d with %d members, want epoch %d with 2", after.Epoch, len(after.Members), before.Epoch)
	}
	time.Sleep(2 * time.Second) // members heartbeat again through the new process
	got := waitAssignment848(t, adm2, g, func(m map[string]int) bool { return m["a"] == 3 && m["b"] == 3 })
	if d := describe848(t, adm2, g); d.Epoch != before.Epoch {
		t.Errorf("group epoch %d after members came back, want %d (no rebalance): %v", d.Epoch, before.Epoch, got)
	}
	offs, err := kadm.NewClient(adm2).FetchOffsets(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 60 {
		t.Errorf("committed offsets after the restart sum to %d, want 60", total)
	}
}
