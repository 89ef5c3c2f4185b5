package handler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

type memOffsets struct {
	mu   sync.Mutex
	logs map[int32]*coordinator.MemLog
}

func (m *memOffsets) OpenPartition(_ context.Context, p int32) (coordinator.Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logs[p] == nil {
		m.logs[p] = coordinator.NewMemLog()
	}
	return m.logs[p], nil
}

func groupHandlers(t *testing.T) *Handlers {
	t.Helper()
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	gc, err := group.NewCoordinator(cfg, clock.NewFake(time.Unix(0, 0)), &memOffsets{logs: map[int32]*coordinator.MemLog{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	im := &metadata.Image{Topics: map[string]*metadata.Topic{"t": {Name: "t", Partitions: make([]metadata.Partition, 5)}}}
	return New(Deps{NodeID: 1, Groups: gc, Image: func() *metadata.Image { return im }})
}

func do[R kmsg.Response](t *testing.T, h *Handlers, req kmsg.Request, version int16) R {
	t.Helper()
	req.SetVersion(version)
	// Round-trip through the wire encoding, as the network layer does.
	dec := kmsg.RequestForKey(req.Key())
	dec.SetVersion(version)
	if err := dec.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", req, version, err)
	}
	resp := h.Handle(context.Background(), &RequestContext{Peer: "10.0.0.1:5555"}, dec)
	out := dec.ResponseKind()
	out.SetVersion(version)
	if err := out.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", resp, version, err)
	}
	return out.(R)
}

// TestGroupLifecycle walks one consumer through every group API at the
// oldest and newest versions we serve.
func TestGroupLifecycle(t *testing.T) {
	for _, v := range []struct {
		find, join, sync, hb, leave, commit, fetch, describe, list, del int16
	}{
		{0, 0, 0, 0, 0, 1, 1, 0, 0, 0},
		{4, 9, 5, 4, 5, 9, 9, 5, 5, 2},
		{3, 5, 3, 3, 3, 7, 7, 4, 4, 1},
	} {
		h := groupHandlers(t)
		find := kmsg.NewPtrFindCoordinatorRequest()
		find.CoordinatorKey, find.CoordinatorKeys = "g", []string{"g", "h"}
		fr := do[*kmsg.FindCoordinatorResponse](t, h, find, v.find)
		if v.find >= 4 {
			if len(fr.Coordinators) != 2 || fr.Coordinators[0].ErrorCode != 0 || fr.Coordinators[1].NodeID != 1 {
				t.Fatalf("v%d find coordinator = %+v", v.find, fr)
			}
		} else if fr.ErrorCode != 0 || fr.NodeID != 1 || fr.Port != 9092 {
			t.Fatalf("v%d find coordinator = %+v", v.find, fr)
		}
		txn := kmsg.NewPtrFindCoordinatorRequest()
		txn.CoordinatorType, txn.CoordinatorKey, txn.CoordinatorKeys = 1, "tx", []string{"tx"}
		if r := do[*kmsg.FindCoordinatorResponse](t, h, txn, 3); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("transaction coordinator = %+v", r)
		}

		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{1}
		join.Protocols = append(join.Protocols, p)
		jr := do[*kmsg.JoinGroupResponse](t, h, join, v.join)
		if v.join >= 4 {
			if jr.ErrorCode != kerr.MemberIDRequired.Code || jr.MemberID == "" {
				t.Fatalf("v%d first join = %+v", v.join, jr)
			}
			join.MemberID = jr.MemberID
			jr = do[*kmsg.JoinGroupResponse](t, h, join, v.join)
		}
		if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 {
			t.Fatalf("v%d join = %+v", v.join, jr)
		}
		member := jr.MemberID

		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = "g", member, 1
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = member, []byte("assigned")
		sync.GroupAssignment = append(sync.GroupAssignment, a)
		if sr := do[*kmsg.SyncGroupResponse](t, h, sync, v.sync); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assigned" {
			t.Fatalf("v%d sync = %+v", v.sync, sr)
		}

		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = "g", member, 1
		if r := do[*kmsg.HeartbeatResponse](t, h, hb, v.hb); r.ErrorCode != 0 {
			t.Fatalf("v%d heartbeat = %+v", v.hb, r)
		}
		hb.Generation = 0
		if r := do[*kmsg.HeartbeatResponse](t, h, hb, v.hb); r.ErrorCode != kerr.IllegalGeneration.Code {
			t.Fatalf("v%d stale heartbeat = %+v", v.hb, r)
		}

		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.Group, commit.MemberID, commit.Generation = "g", member, 1
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = "t"
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.LeaderEpoch, cp.Metadata = 3, 99, 7, kmsg.StringPtr("m")
		ct.Partitions = append(ct.Partitions, cp)
		commit.Topics = append(commit.Topics, ct)
		if r := do[*kmsg.OffsetCommitResponse](t, h, commit, v.commit); r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("v%d commit = %+v", v.commit, r)
		}

		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Group = "g"
		ft := kmsg.NewOffsetFetchRequestTopic()
		ft.Topic, ft.Partitions = "t", []int32{3, 4}
		fetch.Topics = append(fetch.Topics, ft)
		fg := kmsg.NewOffsetFetchRequestGroup()
		fg.Group = "g" // all topics
		fetch.Groups = append(fetch.Groups, fg)
		fr2 := do[*kmsg.OffsetFetchResponse](t, h, fetch, v.fetch)
		if v.fetch >= 8 {
			g := fr2.Groups[0]
			if g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 99 || g.Topics[0].Partitions[0].LeaderEpoch != 7 {
				t.Fatalf("v%d fetch = %+v", v.fetch, fr2)
			}
		} else {
			ps := fr2.Topics[0].Partitions
			if len(ps) != 2 || ps[0].Offset != 99 || groupDeref(ps[0].Metadata) != "m" || ps[1].Offset != -1 {
				t.Fatalf("v%d fetch = %+v", v.fetch, fr2)
			}
		}

		desc := kmsg.NewPtrDescribeGroupsRequest()
		desc.Groups = []string{"g", "nope"}
		dr := do[*kmsg.DescribeGroupsResponse](t, h, desc, v.describe)
		if dr.Groups[0].State != "Stable" || len(dr.Groups[0].Members) != 1 || string(dr.Groups[0].Members[0].MemberAssignment) != "assigned" ||
			dr.Groups[0].Members[0].ClientHost != "/10.0.0.1" || dr.Groups[1].State != "Dead" {
			t.Fatalf("v%d describe = %+v", v.describe, dr)
		}

		list := kmsg.NewPtrListGroupsRequest()
		list.StatesFilter = []string{"stable"}
		if lr := do[*kmsg.ListGroupsResponse](t, h, list, v.list); lr.ErrorCode != 0 || len(lr.Groups) != 1 || lr.Groups[0].Group != "g" {
			t.Fatalf("v%d list = %+v", v.list, lr)
		}

		del := kmsg.NewPtrDeleteGroupsRequest()
		del.Groups = []string{"g"}
		if r := do[*kmsg.DeleteGroupsResponse](t, h, del, v.del); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
			t.Fatalf("v%d delete live group = %+v", v.del, r)
		}

		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group, leave.MemberID = "g", member
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = member
		leave.Members = append(leave.Members, lm)
		if r := do[*kmsg.LeaveGroupResponse](t, h, leave, v.leave); r.ErrorCode != 0 || (v.leave >= 3 && r.Members[0].ErrorCode != 0) {
			t.Fatalf("v%d leave = %+v", v.leave, r)
		}

		od := kmsg.NewPtrOffsetDeleteRequest()
		od.Group = "g"
		odt := kmsg.NewOffsetDeleteRequestTopic()
		odt.Topic = "t"
		odp := kmsg.NewOffsetDeleteRequestTopicPartition()
		odp.Partition = 3
		odt.Partitions = append(odt.Partitions, odp)
		od.Topics = append(od.Topics, odt)
		if r := do[*kmsg.OffsetDeleteResponse](t, h, od, 0); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("offset delete = %+v", r)
		}
		if r := do[*kmsg.DeleteGroupsResponse](t, h, del, v.del); r.Groups[0].ErrorCode != 0 {
			t.Fatalf("v%d delete = %+v", v.del, r)
		}
	}
}
