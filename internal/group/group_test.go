package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestJoinMemberIDRequired(t *testing.T) {
	h := newHarness(t)
	req := joinReq("g", "", "c")
	req.RequireKnownMemberID = true
	p := h.join(req)
	if p.err != nil || !p.done || !errors.Is(p.res.Err, ErrMemberIDRequired) || p.res.MemberID != "c-1" {
		t.Fatalf("first join = %v %+v, want MEMBER_ID_REQUIRED with id c-1", p.err, p.res)
	}
	req.MemberID = p.res.MemberID
	r := mustJoined(t, h.join(req))
	if r.Generation != 1 || r.Leader != "c-1" || r.MemberID != "c-1" || r.Protocol != "range" || len(r.Members) != 1 {
		t.Fatalf("second join = %+v, want generation 1 led by c-1", r)
	}
	if got := h.state("g"); got != CompletingRebalance {
		t.Fatalf("state = %v, want CompletingRebalance", got)
	}
	sp := h.sync(SyncRequest{Group: "g", MemberID: "c-1", Generation: 1, Assignments: map[string][]byte{"c-1": []byte("a1")}})
	if !sp.done || sp.res.Err != nil || string(sp.res.Assignment) != "a1" {
		t.Fatalf("sync = %+v", sp)
	}
	if got := h.state("g"); got != Stable {
		t.Fatalf("state = %v, want Stable", got)
	}
	if err := h.heartbeat("g", "c-1", 1); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
}

func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t)
	req := joinReq("g", "", "c")
	req.RequireKnownMemberID = true
	p := h.join(req)
	h.advance(req.SessionTimeout)
	req.MemberID = p.res.MemberID
	if p2 := h.join(req); !errors.Is(p2.err, ErrUnknownMember) {
		t.Fatalf("join after pending expiry: %v, want UNKNOWN_MEMBER_ID", p2.err)
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t)
	m1, gen := h.joinStable("g", "c", []byte("a"))
	f := func(name string, got, want error) {
		t.Helper()
		if !errors.Is(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	bad := joinReq("g", "", "x")
	bad.ProtocolType = "connect"
	f("wrong protocol type", h.join(bad).err, ErrInconsistentProtocol)
	bad = joinReq("g", "", "x")
	bad.Protocols = []Protocol{{Name: "roundrobin"}}
	f("no common protocol", h.join(bad).err, ErrInconsistentProtocol)
	bad = joinReq("new", "", "x")
	bad.Protocols = nil
	f("no protocols", h.join(bad).err, ErrInconsistentProtocol)
	bad = joinReq("g", "", "x")
	bad.SessionTimeout = time.Second
	f("session too short", h.join(bad).err, ErrInvalidSessionTimeout)
	f("empty group id", h.join(joinReq("", "", "x")).err, ErrInvalidGroupID)
	f("unknown member join", h.join(joinReq("g", "nobody", "x")).err, ErrUnknownMember)
	f("unknown group join", h.join(joinReq("nogroup", "m", "x")).err, ErrUnknownMember)
	f("heartbeat unknown member", h.heartbeat("g", "nobody", gen), ErrUnknownMember)
	f("heartbeat unknown group", h.heartbeat("nogroup", "m", 1), ErrUnknownMember)
	f("heartbeat stale generation", h.heartbeat("g", m1, gen-1), ErrIllegalGeneration)
	f("sync stale generation", h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: gen + 1}).err, ErrIllegalGeneration)
	f("sync unknown member", h.sync(SyncRequest{Group: "g", MemberID: "nobody", Generation: gen}).err, ErrUnknownMember)
	f("sync wrong protocol", h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: gen, Protocol: "sticky"}).err, ErrInconsistentProtocol)
	_, err := h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", MemberID: m1, Generation: gen + 5, Offsets: offs("t", 0, 1)})
	f("commit stale generation", err, ErrIllegalGeneration)
	_, err = h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", MemberID: "nobody", Generation: gen, Offsets: offs("t", 0, 1)})
	f("commit unknown member", err, ErrUnknownMember)
	_, err = h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", Generation: -1, Offsets: offs("t", 0, 1)})
	f("admin commit to live group", err, ErrUnknownMember)
	_, err = h.c.CommitOffsets(context.Background(), CommitRequest{Group: "nogroup", MemberID: "m", Generation: 3, Offsets: offs("t", 0, 1)})
	f("commit to unknown group with generation", err, ErrIllegalGeneration)
	f("delete live group", h.c.DeleteGroup(context.Background(), "g"), ErrNonEmptyGroup)
	f("delete unknown group", h.c.DeleteGroup(context.Background(), "nogroup"), ErrGroupNotFound)
	// None of the failed requests left a group behind.
	gs, err := h.c.ListGroups(context.Background())
	if err != nil || len(gs) != 1 || gs[0].Group != "g" {
		t.Errorf("ListGroups = %+v, %v; want only g", gs, err)
	}
}

func offs(topic string, p int32, off int64) map[TopicPartition]Offset {
	return map[TopicPartition]Offset{{Topic: topic, Partition: p}: {Offset: off, LeaderEpoch: -1}}
}

func TestSecondMemberRebalances(t *testing.T) {
	h := newHarness(t)
	m1, gen := h.joinStable("g", "a", []byte("all"))
	p2 := h.join(joinReq("g", "", "b"))
	if p2.err != nil || p2.done {
		t.Fatalf("second member join: err %v done %v, want waiting", p2.err, p2.done)
	}
	if err := h.heartbeat("g", m1, gen); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat during rebalance: %v, want REBALANCE_IN_PROGRESS", err)
	}
	// A commit while preparing a rebalance is allowed (the member commits
	// before revoking).
	if _, err := h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", MemberID: m1, Generation: gen, Offsets: offs("t", 0, 5)}); err != nil {
		t.Fatalf("commit during PreparingRebalance: %v", err)
	}
	p1 := h.join(joinReq("g", m1, "a"))
	r1, r2 := mustJoined(t, p1), mustJoined(t, p2)
	if r1.Generation != gen+1 || r2.Generation != gen+1 || r1.Leader != m1 || r2.Leader != m1 {
		t.Fatalf("joins = %+v / %+v, want generation %d led by %s", r1, r2, gen+1, m1)
	}
	if len(r1.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d; want 2 and 0", len(r1.Members), len(r2.Members))
	}
	// The follower's SyncGroup waits for the leader's.
	s2 := h.sync(SyncRequest{Group: "g", MemberID: r2.MemberID, Generation: r2.Generation})
	if s2.done {
		t.Fatal("follower sync answered before the leader's")
	}
	// A commit while completing the rebalance is refused.
	if _, err := h.c.CommitOffsets(context.Background(), CommitRequest{Group: "g", MemberID: m1, Generation: r1.Generation, Offsets: offs("t", 0, 6)}); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit during CompletingRebalance: %v, want REBALANCE_IN_PROGRESS", err)
	}
	s1 := h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: r1.Generation,
		Assignments: map[string][]byte{m1: []byte("p0"), r2.MemberID: []byte("p1")}})
	if !s1.done || !s2.done || string(s1.res.Assignment) != "p0" || string(s2.res.Assignment) != "p1" {
		t.Fatalf("syncs = %+v / %+v", s1, s2)
	}
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	h := newHarness(t)
	m1, _ := h.joinStable("g", "a", []byte("x"))
	p2 := h.join(joinReq("g", "", "b"))
	mustJoined(t, h.join(joinReq("g", m1, "a")))
	r2 := mustJoined(t, p2)
	h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: r2.Generation})
	h.sync(SyncRequest{Group: "g", MemberID: r2.MemberID, Generation: r2.Generation})
	// b keeps heartbeating, a goes silent.
	for range 3 {
		h.advance(4 * time.Second)
		if err := h.heartbeat("g", r2.MemberID, r2.Generation); err != nil && !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if got := h.state("g"); got != PreparingRebalance {
		t.Fatalf("state after a's session expired = %v, want PreparingRebalance", got)
	}
	r := mustJoined(t, h.join(joinReq("g", r2.MemberID, "b")))
	if r.Leader != r2.MemberID || len(r.Members) != 1 || r.Generation != r2.Generation+1 {
		t.Fatalf("rejoin = %+v, want b leading alone", r)
	}
}

func TestRebalanceTimeoutDropsSilentMember(t *testing.T) {
	h := newHarness(t)
	m1, _ := h.joinStable("g", "a", []byte("x"))
	p2 := h.join(joinReq("g", "", "b")) // a heartbeats but never rejoins
	for range 29 {
		h.advance(time.Second)
		if err := h.heartbeat("g", m1, 1); !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("heartbeat: %v, want REBALANCE_IN_PROGRESS", err)
		}
	}
	if p2.done {
		t.Fatal("join completed before the rebalance timeout")
	}
	h.advance(time.Second)
	r2 := mustJoined(t, p2)
	if r2.Leader != r2.MemberID || len(r2.Members) != 1 {
		t.Fatalf("join = %+v, want b alone as leader", r2)
	}
	if err := h.heartbeat("g", m1, r2.Generation); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("removed member heartbeat: %v, want UNKNOWN_MEMBER_ID", err)
	}
}

func TestSyncTimeoutRebalances(t *testing.T) {
	h := newHarness(t)
	r := mustJoined(t, h.join(joinReq("g", "", "a")))
	// The leader never sends SyncGroup: after the rebalance timeout it is
	// removed and the (now empty) group goes back to Empty.
	h.advance(30 * time.Second)
	if got := h.state("g"); got != Empty {
		t.Fatalf("state = %v, want Empty", got)
	}
	if err := h.heartbeat("g", r.MemberID, r.Generation); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("heartbeat: %v, want UNKNOWN_MEMBER_ID", err)
	}
}

func TestLeaveGroup(t *testing.T) {
	h := newHarness(t)
	m1, _ := h.joinStable("g", "a", []byte("x"))
	errs, err := h.c.LeaveGroup(context.Background(), "g", []LeaveMember{{MemberID: m1}, {MemberID: "nobody"}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("LeaveGroup = %v, %v", errs, err)
	}
	if got := h.state("g"); got != Empty {
		t.Fatalf("state = %v, want Empty", got)
	}
	// An empty group with no offsets can be deleted.
	if err := h.c.DeleteGroup(context.Background(), "g"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if got := h.state("g"); got != Dead {
		t.Fatalf("state after delete = %v, want Dead", got)
	}
}

func TestStaticMemberRejoinWithoutRebalance(t *testing.T) {
	h := newHarness(t)
	req := joinReq("g", "", "a")
	req.InstanceID = "i1"
	r := mustJoined(t, h.join(req))
	h.sync(SyncRequest{Group: "g", MemberID: r.MemberID, InstanceID: "i1", Generation: r.Generation, Assignments: map[string][]byte{r.MemberID: []byte("mine")}})
	// The process restarts: same instance id, no member id.
	r2 := mustJoined(t, h.join(req))
	if r2.MemberID == r.MemberID || r2.Generation != r.Generation {
		t.Fatalf("static rejoin = %+v, want a new member id and the same generation %d", r2, r.Generation)
	}
	if got := h.state("g"); got != Stable {
		t.Fatalf("state = %v, want Stable (no rebalance)", got)
	}
	s := h.sync(SyncRequest{Group: "g", MemberID: r2.MemberID, InstanceID: "i1", Generation: r2.Generation})
	if !s.done || string(s.res.Assignment) != "mine" {
		t.Fatalf("sync after static rejoin = %+v, want the old assignment", s)
	}
	// The old incarnation is fenced.
	if err := h.c.Heartbeat(context.Background(), HeartbeatRequest{Group: "g", MemberID: r.MemberID, InstanceID: "i1", Generation: r.Generation}); !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("old incarnation heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	errs, _ := h.c.LeaveGroup(context.Background(), "g", []LeaveMember{{MemberID: r.MemberID, InstanceID: "i1"}})
	if !errors.Is(errs[0], ErrFencedInstanceID) {
		t.Fatalf("old incarnation leave: %v, want FENCED_INSTANCE_ID", errs[0])
	}
	// The new member id survives a restart (it was persisted).
	h.restart()
	if err := h.c.Heartbeat(context.Background(), HeartbeatRequest{Group: "g", MemberID: r2.MemberID, InstanceID: "i1", Generation: r2.Generation}); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	if err := h.c.Heartbeat(context.Background(), HeartbeatRequest{Group: "g", MemberID: r.MemberID, InstanceID: "i1", Generation: r.Generation}); !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("old incarnation after restart: %v, want FENCED_INSTANCE_ID", err)
	}
}

func TestGroupMaxSize(t *testing.T) {
	const maxSize = 1000
	h := newHarness(t, func(c *Config) { c.MaxSize = maxSize })
	var waiting []*pending[JoinResult]
	for range maxSize {
		req := joinReq("big", "", "c")
		req.RequireKnownMemberID = true
		p := h.join(req)
		if !errors.Is(p.res.Err, ErrMemberIDRequired) {
			t.Fatalf("join: %+v", p)
		}
		req.MemberID = p.res.MemberID
		waiting = append(waiting, h.join(req))
	}
	req := joinReq("big", "", "c")
	req.RequireKnownMemberID = true
	if p := h.join(req); !errors.Is(p.err, ErrGroupMaxSize) {
		t.Fatalf("join beyond group.max.size: %v, want GROUP_MAX_SIZE_REACHED", p.err)
	}
	// The first member formed generation 1 alone; the others forced a
	// rebalance that completes when they have all rejoined (the first is
	// not waiting, so the rebalance timeout ends it).
	h.advance(30 * time.Second)
	done := 0
	for _, p := range waiting[1:] {
		if p.done && p.res.Err == nil {
			done++
		}
	}
	if done != maxSize-1 {
		t.Fatalf("%d joins completed, want %d", done, maxSize-1)
	}
	if got := len(h.members("big")); got != maxSize-1 {
		t.Fatalf("%d members, want %d (the first one never rejoined)", got, maxSize-1)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	p1 := h.join(joinReq("g", "", "a"))
	h.advance(2 * time.Second)
	p2 := h.join(joinReq("g", "", "b"))
	h.advance(time.Second) // the delay ends, but b joined during it: wait once more
	if p1.done || p2.done {
		t.Fatal("join completed while members were still arriving")
	}
	h.advance(3 * time.Second)
	r1, r2 := mustJoined(t, p1), mustJoined(t, p2)
	if r1.Generation != 1 || r2.Generation != 1 {
		t.Fatalf("generations %d, %d; want both 1", r1.Generation, r2.Generation)
	}
}

func TestProtocolSelection(t *testing.T) {
	h := newHarness(t)
	a := joinReq("g", "", "a")
	a.Protocols = []Protocol{{Name: "cooperative-sticky"}, {Name: "range"}}
	pa := h.join(a)
	ra := mustJoined(t, pa)
	if ra.Protocol != "cooperative-sticky" {
		t.Fatalf("protocol = %q", ra.Protocol)
	}
	h.sync(SyncRequest{Group: "g", MemberID: ra.MemberID, Generation: ra.Generation})
	b := joinReq("g", "", "b")
	b.Protocols = []Protocol{{Name: "range"}}
	pb := h.join(b)
	a.MemberID = ra.MemberID
	ra = mustJoined(t, h.join(a))
	if rb := mustJoined(t, pb); ra.Protocol != "range" || rb.Protocol != "range" {
		t.Fatalf("protocol = %q / %q, want range (the only common one)", ra.Protocol, rb.Protocol)
	}
}
