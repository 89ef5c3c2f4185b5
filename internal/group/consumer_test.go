package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

// fakeTopics is a Topics over a fixed map.
type fakeTopics map[string]TopicInfo

func (f fakeTopics) Topic(name string) (TopicInfo, bool) { t, ok := f[name]; return t, ok }
func (f fakeTopics) TopicByID(id [16]byte) (TopicInfo, bool) {
	for _, t := range f {
		if t.ID == id {
			return t, true
		}
	}
	return TopicInfo{}, false
}
func (f fakeTopics) Names() []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	return out
}

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

func mkTopics(spec map[string]int32) fakeTopics {
	f := make(fakeTopics)
	for n, p := range spec {
		f[n] = TopicInfo{Name: n, ID: topicID(n), Partitions: p}
	}
	return f
}

func newConsumerHarness(t *testing.T, topics fakeTopics, opts ...func(*Config)) *harness {
	return newHarness(t, append([]func(*Config){func(c *Config) {
		c.Topics = topics
		c.ConsumerSessionTimeout = 10 * time.Second
		c.ConsumerHeartbeatInterval = time.Second
	}}, opts...)...)
}

// hb sends a heartbeat. owned nil means "unchanged" (a keepalive).
func (h *harness) hb(g, member string, epoch int32, owned []TopicPartitions, mod ...func(*ConsumerHeartbeatRequest)) ConsumerHeartbeatResult {
	h.t.Helper()
	req := ConsumerHeartbeatRequest{Group: g, MemberID: member, MemberEpoch: epoch, RebalanceTimeout: -1, Topics: owned, ClientID: member}
	if epoch == 0 {
		req.RebalanceTimeout = 30 * time.Second
		req.SubscribedTopicNames = []string{"t"}
		req.Topics = []TopicPartitions{}
	}
	for _, m := range mod {
		m(&req)
	}
	return h.c.ConsumerGroupHeartbeat(context.Background(), req)
}

func (h *harness) mustHB(g, member string, epoch int32, owned []TopicPartitions, mod ...func(*ConsumerHeartbeatRequest)) ConsumerHeartbeatResult {
	h.t.Helper()
	r := h.hb(g, member, epoch, owned, mod...)
	if r.Err != nil {
		h.t.Fatalf("heartbeat %s/%s epoch %d: %v", g, member, epoch, r.Err)
	}
	return r
}

func parts(tps []TopicPartitions) []int32 {
	var out []int32
	for _, t := range tps {
		out = append(out, t.Partitions...)
	}
	slices.Sort(out)
	return out
}

func owned(ps ...int32) []TopicPartitions {
	if len(ps) == 0 {
		return []TopicPartitions{}
	}
	return []TopicPartitions{{TopicID: topicID("t"), Partitions: ps}}
}

func (h *harness) describe848(g string) ConsumerGroupSummary {
	h.t.Helper()
	s, err := h.c.DescribeConsumerGroup(context.Background(), g)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// checkNoDoubleOwners fails if any partition is held (assigned or revoking)
// by two members: the invariant reconciliation exists for.
func (h *harness) checkNoDoubleOwners(g string) {
	h.t.Helper()
	s := h.c.shardFor(g)
	s.Lock()
	defer s.Unlock()
	seen := make(map[tp]string)
	for _, m := range s.groups[g].consumer.members {
		for p := range m.assigned.union(m.revoking) {
			if o, ok := seen[p]; ok {
				h.t.Fatalf("partition %v held by %s and %s", p, o, m.id)
			}
			seen[p] = m.id
		}
	}
}

func TestConsumerRevokesBeforeAssigning(t *testing.T) {
	h := newConsumerHarness(t, mkTopics(map[string]int32{"t": 4}))
	r1 := h.mustHB("g", "m1", 0, nil)
	if r1.MemberEpoch != 1 || !slices.Equal(parts(r1.Assignment), []int32{0, 1, 2, 3}) {
		t.Fatalf("m1 join: epoch %d assignment %v, want 1 and all four", r1.MemberEpoch, parts(r1.Assignment))
	}
	r2 := h.mustHB("g", "m2", 0, nil)
	if r2.MemberEpoch != 2 || len(parts(r2.Assignment)) != 0 {
		t.Fatalf("m2 join: epoch %d assignment %v, want 2 and nothing yet (m1 holds all)", r2.MemberEpoch, parts(r2.Assignment))
	}
	if st := h.describe848("g").State; st != Reconciling {
		t.Errorf("state %v, want Reconciling", st)
	}
	h.checkNoDoubleOwners("g")
	// m1 learns it must give two up; its epoch stays until it does.
	r1 = h.mustHB("g", "m1", 1, owned(0, 1, 2, 3))
	if r1.MemberEpoch != 1 || len(parts(r1.Assignment)) != 2 {
		t.Fatalf("m1 revoke: epoch %d assignment %v, want 1 and two partitions", r1.MemberEpoch, parts(r1.Assignment))
	}
	keep := parts(r1.Assignment)
	// m2 still gets nothing while m1 has not confirmed.
	if r := h.mustHB("g", "m2", 2, owned()); len(parts(r.Assignment)) != 0 {
		t.Fatalf("m2 got %v before m1 revoked", parts(r.Assignment))
	}
	h.checkNoDoubleOwners("g")
	// A keepalive (no owned partitions sent) does not count as a confirmation.
	if r := h.mustHB("g", "m1", 1, nil); r.MemberEpoch != 1 {
		t.Fatalf("m1 keepalive moved it to epoch %d", r.MemberEpoch)
	}
	r1 = h.mustHB("g", "m1", 1, owned(keep...))
	if r1.MemberEpoch != 2 {
		t.Fatalf("m1 after revoking: epoch %d, want 2", r1.MemberEpoch)
	}
	r2 = h.mustHB("g", "m2", 2, owned())
	got := append(parts(r2.Assignment), keep...)
	slices.Sort(got)
	if !slices.Equal(got, []int32{0, 1, 2, 3}) || len(parts(r2.Assignment)) != 2 {
		t.Fatalf("m2 got %v, m1 kept %v: want a split of all four", parts(r2.Assignment), keep)
	}
	h.checkNoDoubleOwners("g")
	if st := h.describe848("g").State; st != Stable {
		t.Errorf("state %v, want Stable", st)
	}
	// A steady heartbeat sends no assignment.
	if r := h.mustHB("g", "m2", 2, nil); r.Assignment != nil {
		t.Errorf("keepalive answered with assignment %v", r.Assignment)
	}

	// State survives a restart.
	before := h.describe848("g")
	h.restart()
	after := h.describe848("g")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("after restart:\n%+v\nwant\n%+v", after, before)
	}
	if r := h.mustHB("g", "m1", 2, nil); r.MemberEpoch != 2 {
		t.Errorf("m1 after restart: epoch %d", r.MemberEpoch)
	}

	// m2 leaves: m1 gets everything back at a new epoch.
	if r := h.mustHB("g", "m2", -1, nil); r.MemberEpoch != -1 {
		t.Errorf("leave answered epoch %d, want -1", r.MemberEpoch)
	}
	r1 = h.mustHB("g", "m1", 2, nil)
	if r1.MemberEpoch != 3 || !slices.Equal(parts(r1.Assignment), []int32{0, 1, 2, 3}) {
		t.Errorf("m1 after m2 left: epoch %d %v", r1.MemberEpoch, parts(r1.Assignment))
	}
}

func TestConsumerFencingAndErrors(t *testing.T) {
	h := newConsumerHarness(t, mkTopics(map[string]int32{"t": 2}))
	f := func(name string, r ConsumerHeartbeatResult, want error) {
		t.Helper()
		if !errors.Is(r.Err, want) {
			t.Errorf("%s: %v, want %v", name, r.Err, want)
		}
	}
	h.mustHB("g", "m1", 0, nil)
	f("epoch ahead", h.hb("g", "m1", 7, nil), ErrFencedMemberEpoch)
	f("unknown member", h.hb("g", "zz", 1, nil), ErrUnknownMember)
	f("unknown group", h.hb("nope", "m1", 1, nil), ErrGroupNotFound)
	f("rejoin keeps the member", h.hb("g", "m1", 0, nil), nil)
	f("static leave without instance", h.hb("g", "m1", -2, nil), ErrInvalidRequest)
	f("a second member joins", h.hb("g", "m9", 0, nil), nil)

	small := newConsumerHarness(t, mkTopics(map[string]int32{"t": 2}), func(c *Config) { c.ConsumerMaxSize = 1 })
	small.mustHB("g", "m1", 0, nil)
	f("group full", small.hb("g", "m2", 0, nil), ErrGroupMaxSize)

	off := newConsumerHarness(t, nil, func(c *Config) { c.ConsumerProtocol = false })
	f("protocol disabled", off.hb("g", "m1", 0, nil), ErrUnsupportedVersion)

	// A classic group with members is not a consumer group.
	c := newConsumerHarness(t, mkTopics(map[string]int32{"t": 2}))
	c.joinStable("classic", "cl", []byte("a"))
	f("classic group", c.hb("classic", "m1", 0, nil), ErrGroupNotFound)
}

func TestConsumerSessionAndRebalanceTimeouts(t *testing.T) {
	h := newConsumerHarness(t, mkTopics(map[string]int32{"t": 4}))
	h.mustHB("g", "m1", 0, nil)
	h.mustHB("g", "m2", 0, nil, func(r *ConsumerHeartbeatRequest) { r.RebalanceTimeout = 5 * time.Second })
	// m1 must revoke two partitions but never confirms: after its
	// rebalance timeout (30s) it is fenced, although it keeps heartbeating
	// within its session.
	h.mustHB("g", "m1", 1, owned(0, 1, 2, 3))
	var r2 ConsumerHeartbeatResult
	for range 4 {
		h.advance(8 * time.Second)
		r2 = h.mustHB("g", "m2", 2, nil)
		if r2.MemberEpoch != 2 {
			break
		}
		h.mustHB("g", "m1", 1, nil)
	}
	if r := h.hb("g", "m1", 1, nil); !errors.Is(r.Err, ErrUnknownMember) {
		t.Fatalf("m1 after its rebalance timeout: %v, want unknown member", r.Err)
	}
	if !slices.Equal(parts(r2.Assignment), []int32{0, 1, 2, 3}) || r2.MemberEpoch != 3 {
		t.Errorf("m2 after m1 was fenced: epoch %d %v, want 3 and all four", r2.MemberEpoch, parts(r2.Assignment))
	}
	// m2 stops heartbeating: the session timeout removes it.
	h.advance(11 * time.Second)
	if s := h.describe848("g"); s.State != Empty || len(s.Members) != 0 {
		t.Errorf("after the session timeout: %+v", s)
	}
}

func TestConsumerStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	h := newConsumerHarness(t, mkTopics(map[string]int32{"t": 4}))
	static := func(id string) func(*ConsumerHeartbeatRequest) {
		return func(r *ConsumerHeartbeatRequest) { r.InstanceID = &id }
	}
	h.mustHB("g", "a1", 0, nil, static("a"))
	h.mustHB("g", "b1", 0, nil, static("b"))
	ra := h.mustHB("g", "a1", 1, owned(0, 1, 2, 3), static("a"))
	ra = h.mustHB("g", "a1", 1, owned(parts(ra.Assignment)...), static("a"))
	rb := h.mustHB("g", "b1", 2, owned(), static("b"))
	epoch := h.describe848("g").Epoch

	// b restarts: it leaves with -2 and comes back with a new member id.
	if r := h.mustHB("g", "b1", -2, nil, static("b")); r.MemberEpoch != -2 {
		t.Fatalf("static leave answered %d", r.MemberEpoch)
	}
	f := h.hb("g", "b-other", 0, nil, static("a"))
	if !errors.Is(f.Err, ErrUnreleasedInstanceID) {
		t.Errorf("a second member with a's live instance id: %v, want UNRELEASED_INSTANCE_ID", f.Err)
	}
	rb2 := h.mustHB("g", "b2", 0, nil, static("b"))
	if !slices.Equal(parts(rb2.Assignment), parts(rb.Assignment)) || rb2.MemberEpoch != rb.MemberEpoch {
		t.Errorf("b came back with epoch %d %v, want its old epoch %d %v", rb2.MemberEpoch, parts(rb2.Assignment), rb.MemberEpoch, parts(rb.Assignment))
	}
	if e := h.describe848("g").Epoch; e != epoch {
		t.Errorf("group epoch %d after a static rejoin, want %d (no rebalance)", e, epoch)
	}
	if r := h.hb("g", "b1", 2, nil); !errors.Is(r.Err, ErrUnknownMember) {
		t.Errorf("old static member id: %v, want unknown member", r.Err)
	}
	_ = ra
}

func TestConsumerCommitsCheckEpochs(t *testing.T) {
	h := newConsumerHarness(t, mkTopics(map[string]int32{"t": 2}))
	r := h.mustHB("g", "m1", 0, nil)
	commit := func(member string, epoch int32) error {
		t.Helper()
		errs, err := h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", MemberID: member, Generation: epoch,
			Offsets: map[TopicPartition]Offset{{"t", 0}: {Offset: 5, LeaderEpoch: -1}}})
		if err != nil {
			return err
		}
		return errs[TopicPartition{"t", 0}]
	}
	f := func(name string, got, want error) {
		t.Helper()
		if !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	f("member epoch", commit("m1", r.MemberEpoch), nil)
	f("future epoch", commit("m1", r.MemberEpoch+1), ErrFencedMemberEpoch)
	f("unknown member", commit("x", 1), ErrUnknownMember)
	f("admin commit with members", commit("", -1), ErrUnknownMember)
	h.mustHB("g", "m2", 0, nil)
	r = h.mustHB("g", "m1", 1, owned(0, 1))
	h.mustHB("g", "m1", 1, owned(parts(r.Assignment)...)) // revoked: epoch 2
	h.mustHB("g", "m2", -1, nil)
	if r = h.mustHB("g", "m1", 2, nil); r.MemberEpoch != 3 {
		t.Fatalf("m1 epoch %d, want 3", r.MemberEpoch)
	}
	f("previous epoch", commit("m1", 2), nil)
	f("stale epoch", commit("m1", 1), ErrStaleMemberEpoch)
	h.mustHB("g", "m1", -1, nil)
	f("admin commit to an empty group", commit("", -1), nil)
	offs, err := h.c.FetchOffsets(context.Background(), "g", nil)
	if err != nil || offs[TopicPartition{"t", 0}].Offset != 5 {
		t.Errorf("fetch: %v %v", offs, err)
	}
	// An empty consumer group becomes classic on a JoinGroup, keeping offsets.
	h.joinStable("g", "classic", []byte("x"))
	offs, _ = h.c.FetchOffsets(context.Background(), "g", nil)
	if offs[TopicPartition{"t", 0}].Offset != 5 {
		t.Errorf("offsets after the downgrade to classic: %v", offs)
	}
	h.restart()
	if _, err := h.c.DescribeConsumerGroup(context.Background(), "g"); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("describe after the downgrade and a restart: %v, want not found", err)
	}
}

func TestUniformAssignor(t *testing.T) {
	f := func(nMembers int, topics map[string]int32, subs func(i int) []string) map[string]partSet {
		t.Helper()
		var ms []assignMember
		for i := range nMembers {
			m := assignMember{id: fmt.Sprintf("m%02d", i)}
			for _, n := range subs(i) {
				m.topics = append(m.topics, TopicInfo{Name: n, ID: topicID(n), Partitions: topics[n]})
			}
			sort.Slice(m.topics, func(a, b int) bool { return m.topics[a].Name < m.topics[b].Name })
			ms = append(ms, m)
		}
		out := uniformAssignor{}.assign(ms)
		seen := make(partSet)
		for _, s := range out {
			for p := range s {
				if seen.has(p) {
					t.Fatalf("partition %v assigned twice", p)
				}
				seen[p] = struct{}{}
			}
		}
		return out
	}
	counts := func(a map[string]partSet) (lo, hi, total int) {
		lo = 1 << 30
		for _, s := range a {
			lo, hi, total = min(lo, len(s)), max(hi, len(s)), total+len(s)
		}
		return
	}
	all := func(int) []string { return []string{"a", "b"} }
	for _, n := range []int{1, 3, 7, 50} {
		a := f(n, map[string]int32{"a": 250, "b": 250}, all)
		if lo, hi, total := counts(a); total != 500 || hi-lo > 1 {
			t.Errorf("%d members over 500 partitions: counts %d..%d total %d", n, lo, hi, total)
		}
	}
	// Heterogeneous: m00 only a (4), m01 a and b (4 + 4): m01 takes all of b.
	het := f(2, map[string]int32{"a": 4, "b": 4}, func(i int) []string {
		if i == 0 {
			return []string{"a"}
		}
		return []string{"a", "b"}
	})
	if len(het["m00"]) != 4 || len(het["m01"]) != 4 {
		t.Errorf("heterogeneous: m00 %d m01 %d, want 4 and 4", len(het["m00"]), len(het["m01"]))
	}
	// Stickiness: a third member takes only what it needs.
	ms := []assignMember{{id: "x"}, {id: "y"}}
	top := []TopicInfo{{Name: "t", ID: topicID("t"), Partitions: 6}}
	for i := range ms {
		ms[i].topics = top
	}
	first := uniformAssignor{}.assign(ms)
	ms[0].previous, ms[1].previous = first["x"], first["y"]
	ms = append(ms, assignMember{id: "z", topics: top})
	second := uniformAssignor{}.assign(ms)
	moved := 0
	for _, id := range []string{"x", "y"} {
		for p := range first[id] {
			if !second[id].has(p) {
				moved++
			}
		}
	}
	if moved != 2 || len(second["z"]) != 2 {
		t.Errorf("adding a member moved %d partitions (z got %d), want 2", moved, len(second["z"]))
	}
}

func TestRangeAssignor(t *testing.T) {
	top := []TopicInfo{{Name: "t", ID: topicID("t"), Partitions: 7}, {Name: "u", ID: topicID("u"), Partitions: 2}}
	out := rangeAssignor{}.assign([]assignMember{{id: "b", topics: top}, {id: "a", topics: top}, {id: "c", topics: top[:1]}})
	f := func(member, topic string, want ...int32) {
		t.Helper()
		var got []int32
		for p := range out[member] {
			if p.topic == topicID(topic) {
				got = append(got, p.partition)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s on %s: %v, want %v", member, topic, got, want)
		}
	}
	f("a", "t", 0, 1, 2)
	f("b", "t", 3, 4)
	f("c", "t", 5, 6)
	f("a", "u", 0)
	f("b", "u", 1)
	f("c", "u")
}
