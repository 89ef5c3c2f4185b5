package group

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var ctx = context.Background()

func TestCommitFetchReplay(t *testing.T) {
	h := newHarness(t)
	m1, gen := h.joinStable("g", "a", []byte("x"))
	req := CommitRequest{Group: "g", MemberID: m1, Generation: gen, Offsets: map[TopicPartition]Offset{
		{Topic: "t", Partition: 0}: {Offset: 10, LeaderEpoch: 3, Metadata: "meta"},
		{Topic: "t", Partition: 1}: {Offset: 20, LeaderEpoch: -1},
		{Topic: "u", Partition: 0}: {Offset: 1, Metadata: strings.Repeat("x", 5000)},
	}}
	errs, err := h.c.CommitOffsets(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if errs[TopicPartition{Topic: "t", Partition: 0}] != nil || !errors.Is(errs[TopicPartition{Topic: "u", Partition: 0}], ErrMetadataTooLarge) {
		t.Fatalf("commit errors = %v", errs)
	}
	want := map[TopicPartition]Offset{
		{Topic: "t", Partition: 0}: {Offset: 10, LeaderEpoch: 3, Metadata: "meta", CommitTime: t0},
		{Topic: "t", Partition: 1}: {Offset: 20, LeaderEpoch: -1, CommitTime: t0},
	}
	check := func(when string) {
		t.Helper()
		got, err := h.c.FetchOffsets(ctx, "g", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: offsets (-want +got):\n%s", when, d)
		}
		got, _ = h.c.FetchOffsets(ctx, "g", map[string][]int32{"t": {1, 7}})
		if len(got) != 1 || got[TopicPartition{Topic: "t", Partition: 1}].Offset != 20 {
			t.Errorf("%s: fetch t/1,7 = %v", when, got)
		}
	}
	check("before restart")
	before, _ := h.c.DescribeGroup(ctx, "g")
	h.restart()
	check("after restart")
	after, _ := h.c.DescribeGroup(ctx, "g")
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("group after restart (-want +got):\n%s", d)
	}
	// Members are back, with their generation and a fresh session.
	if err := h.heartbeat("g", m1, gen); err != nil {
		t.Errorf("heartbeat after restart: %v", err)
	}
	h.advance(11 * time.Second)
	if got := h.state("g"); got != Empty {
		t.Errorf("state after the reloaded member's session = %v, want Empty", got)
	}
}

func TestRecordsAreKafkaSchemas(t *testing.T) {
	h := newHarness(t)
	m1, gen := h.joinStable("g", "a", []byte("assign"))
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", MemberID: m1, Generation: gen, Offsets: offs("t", 2, 42)}); err != nil {
		t.Fatal(err)
	}
	recs := h.storage.logs[h.c.PartitionFor("g")].Records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want group metadata and one offset", len(recs))
	}
	var gk kmsg.GroupMetadataKey
	var gv kmsg.GroupMetadataValue
	if err := errors.Join(gk.ReadFrom(recs[0].Key), gv.ReadFrom(recs[0].Value)); err != nil {
		t.Fatal(err)
	}
	if gk.Version != 2 || gk.Group != "g" || gv.Version != 3 || gv.ProtocolType != "consumer" || gv.Generation != gen ||
		deref(gv.Protocol) != "range" || deref(gv.Leader) != m1 || len(gv.Members) != 1 || string(gv.Members[0].Assignment) != "assign" {
		t.Errorf("group record = %+v / %+v", gk, gv)
	}
	var ok kmsg.OffsetCommitKey
	var ov kmsg.OffsetCommitValue
	if err := errors.Join(ok.ReadFrom(recs[1].Key), ov.ReadFrom(recs[1].Value)); err != nil {
		t.Fatal(err)
	}
	if ok.Version != 1 || ok.Group != "g" || ok.Topic != "t" || ok.Partition != 2 || ov.Offset != 42 || ov.CommitTimestamp != t0.UnixMilli() {
		t.Errorf("offset record = %+v / %+v", ok, ov)
	}
}

func TestAdminCommitAndDelete(t *testing.T) {
	h := newHarness(t)
	// generation -1 and no member: a commit from outside any group.
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "simple", Generation: -1, Offsets: offs("t", 0, 7)}); err != nil {
		t.Fatal(err)
	}
	if got := h.state("simple"); got != Empty {
		t.Fatalf("state = %v, want Empty", got)
	}
	errs, err := h.c.DeleteOffsets(ctx, "simple", []TopicPartition{{Topic: "t", Partition: 0}})
	if err != nil || errs[TopicPartition{Topic: "t", Partition: 0}] != nil {
		t.Fatalf("DeleteOffsets = %v, %v", errs, err)
	}
	if got, _ := h.c.FetchOffsets(ctx, "simple", nil); len(got) != 0 {
		t.Fatalf("offsets after delete = %v", got)
	}
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "simple", Generation: -1, Offsets: offs("t", 0, 8)}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DeleteGroup(ctx, "simple"); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if got, _ := h.c.FetchOffsets(ctx, "simple", nil); len(got) != 0 {
		t.Fatalf("offsets after delete and restart = %v", got)
	}
	if gs, _ := h.c.ListGroups(ctx); len(gs) != 0 {
		t.Fatalf("groups after delete and restart = %v", gs)
	}
}

func TestOffsetDeleteSubscribedTopic(t *testing.T) {
	h := newHarness(t)
	req := joinReq("g", "", "a")
	md := kmsg.ConsumerMemberMetadata{Topics: []string{"t"}}
	req.Protocols = []Protocol{{Name: "range", Metadata: md.AppendTo(nil)}}
	r := mustJoined(t, h.join(req))
	h.sync(SyncRequest{Group: "g", MemberID: r.MemberID, Generation: r.Generation})
	offsets := map[TopicPartition]Offset{{Topic: "t", Partition: 0}: {Offset: 1}, {Topic: "old", Partition: 0}: {Offset: 2}}
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", MemberID: r.MemberID, Generation: r.Generation, Offsets: offsets}); err != nil {
		t.Fatal(err)
	}
	errs, err := h.c.DeleteOffsets(ctx, "g", []TopicPartition{{Topic: "t", Partition: 0}, {Topic: "old", Partition: 0}})
	if err != nil || !errors.Is(errs[TopicPartition{Topic: "t", Partition: 0}], ErrSubscribedToTopic) || errs[TopicPartition{Topic: "old", Partition: 0}] != nil {
		t.Fatalf("DeleteOffsets = %v, %v", errs, err)
	}
	if _, err := h.c.DeleteOffsets(ctx, "nogroup", nil); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("DeleteOffsets unknown group: %v", err)
	}
}

func TestOffsetRetention(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	m1, gen := h.joinStable("g", "a", nil)
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", MemberID: m1, Generation: gen, Offsets: offs("t", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	// While the group has members, its offsets never expire.
	for range 2 * 3600 / 5 {
		h.advance(5 * time.Second)
		if err := h.heartbeat("g", m1, gen); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := h.c.FetchOffsets(ctx, "g", nil); len(got) != 1 {
		t.Fatalf("offsets of a live group expired: %v", got)
	}
	if _, err := h.c.LeaveGroup(ctx, "g", []LeaveMember{{MemberID: m1}}); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Hour - 2*time.Minute)
	if got, _ := h.c.FetchOffsets(ctx, "g", nil); len(got) != 1 {
		t.Fatalf("offsets expired before the retention: %v", got)
	}
	h.advance(2 * time.Minute) // past the retention and a check
	if got, _ := h.c.FetchOffsets(ctx, "g", nil); len(got) != 0 {
		t.Fatalf("offsets after the retention = %v", got)
	}
	if got := h.state("g"); got != Dead {
		t.Fatalf("state = %v, want Dead (deleted)", got)
	}
	h.restart()
	if got := h.state("g"); got != Dead {
		t.Fatalf("state after restart = %v, want Dead", got)
	}
}

func TestCommitNotAckedWhenNotDurable(t *testing.T) {
	h := newHarness(t)
	if _, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, Offsets: offs("t", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	l := h.storage.logs[h.c.PartitionFor("g")]
	l.FailDurable(errors.New("disk on fire"))
	errs, err := h.c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, Offsets: offs("t", 0, 2)})
	if err != nil || !errors.Is(errs[TopicPartition{Topic: "t", Partition: 0}], ErrNotCoordinator) {
		t.Fatalf("commit on a failing log = %v, %v; want NOT_COORDINATOR", errs, err)
	}
	l.FailDurable(nil)
	l.FailAppends(errors.New("log gone"))
	errs, err = h.c.CommitOffsets(ctx, CommitRequest{Group: "g", Generation: -1, Offsets: offs("t", 0, 3)})
	if err != nil || !errors.Is(errs[TopicPartition{Topic: "t", Partition: 0}], ErrNotCoordinator) {
		t.Fatalf("commit on a failing append = %v, %v; want NOT_COORDINATOR", errs, err)
	}
	l.FailAppends(nil)
	// The shard reloaded from the log: the failed append is not visible.
	got, _ := h.c.FetchOffsets(ctx, "g", nil)
	if o := got[TopicPartition{Topic: "t", Partition: 0}].Offset; o != 2 {
		t.Fatalf("offset after reload = %d, want 2 (in the log, though its fsync failed)", o)
	}
}
