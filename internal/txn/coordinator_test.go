package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type memStorage struct {
	mu   sync.Mutex
	logs map[int32]*coordinator.MemLog
}

func (s *memStorage) OpenPartition(_ context.Context, p int32) (coordinator.Log, int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		s.logs = map[int32]*coordinator.MemLog{}
	}
	if s.logs[p] == nil {
		s.logs[p] = coordinator.NewMemLog()
	}
	return s.logs[p], 0, nil
}

// fakeMarkers records markers; a marker in the offsets topic completes the
// producer's pending offsets in offsets, as the handler does with the group
// coordinator.
type fakeMarkers struct {
	mu      sync.Mutex
	got     []MarkerRequest
	fail    error
	offsets *fakeOffsets
}

func (m *fakeMarkers) WriteMarkers(_ context.Context, r MarkerRequest) map[TopicPartition]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[TopicPartition]error{}
	for _, tp := range r.Partitions {
		out[tp] = m.fail
		if m.fail == nil && tp.Topic == DefaultConfig().OffsetsTopic {
			m.offsets.complete(r.ProducerID, r.Commit)
		}
	}
	if m.fail == nil {
		m.got = append(m.got, r)
	}
	return out
}

// fakeOffsets is the group coordinator's side of transactional offset
// commits: pending by producer until a marker.
type fakeOffsets struct {
	mu        sync.Mutex
	pending   map[int64]map[string]map[TopicPartition]Offset
	committed map[string]map[TopicPartition]Offset
}

func (f *fakeOffsets) CommitTxnOffsets(_ context.Context, r TxnCommitRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[int64]map[string]map[TopicPartition]Offset{}
	}
	if f.pending[r.ProducerID] == nil {
		f.pending[r.ProducerID] = map[string]map[TopicPartition]Offset{}
	}
	if f.pending[r.ProducerID][r.Group] == nil {
		f.pending[r.ProducerID][r.Group] = map[TopicPartition]Offset{}
	}
	for tp, v := range r.Offsets {
		f.pending[r.ProducerID][r.Group][tp] = v
	}
	return nil
}

func (f *fakeOffsets) complete(pid int64, commit bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byGroup := f.pending[pid]
	delete(f.pending, pid)
	if !commit {
		return
	}
	if f.committed == nil {
		f.committed = map[string]map[TopicPartition]Offset{}
	}
	for g, o := range byGroup {
		if f.committed[g] == nil {
			f.committed[g] = map[TopicPartition]Offset{}
		}
		for tp, v := range o {
			f.committed[g][tp] = v
		}
	}
}

type harness struct {
	c       *Coordinator
	clk     *clock.Fake
	st      *memStorage
	markers *fakeMarkers
	offsets *fakeOffsets
	ids     *FileIDs
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{clk: clock.NewFake(time.UnixMilli(1_000_000)), st: &memStorage{}, offsets: &fakeOffsets{}}
	h.markers = &fakeMarkers{offsets: h.offsets}
	var err error
	if h.ids, err = OpenFileIDs(vfs.NewMem(), "/producer-ids"); err != nil {
		t.Fatal(err)
	}
	h.restart(t)
	return h
}

// restart makes a new coordinator over the same logs (replay).
func (h *harness) restart(t *testing.T) {
	t.Helper()
	c, err := New(Config{NumPartitions: 4, OffsetsPartitions: 4}, h.clk, h.st, h.ids, h.markers, h.offsets, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
}

func TestTransactionLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	tp := TopicPartition{"out", 0}
	init := func(pid int64, epoch int16) (int64, int16) {
		t.Helper()
		p, e, err := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "tx", Timeout: time.Minute, ProducerID: pid, Epoch: epoch})
		if err != nil {
			t.Fatalf("InitProducerID: %v", err)
		}
		return p, e
	}
	f := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
	}
	pid, ep := init(-1, -1)
	if ep != 0 {
		t.Fatalf("first epoch %d, want 0", ep)
	}
	f("end without txn", h.c.EndTxn(ctx, "tx", pid, ep, true), ErrInvalidTxnState)
	f("add unknown id", h.c.AddPartitions(ctx, "nope", pid, ep, []TopicPartition{tp}), ErrInvalidMapping)
	f("add wrong pid", h.c.AddPartitions(ctx, "tx", pid+1, ep, []TopicPartition{tp}), ErrInvalidMapping)
	f("add wrong epoch", h.c.AddPartitions(ctx, "tx", pid, ep+1, []TopicPartition{tp}), ErrProducerFenced)
	f("add", h.c.AddPartitions(ctx, "tx", pid, ep, []TopicPartition{tp}), nil)
	f("add offsets", h.c.AddOffsets(ctx, "tx", pid, ep, "g"), nil)
	f("txn commit", h.c.CommitOffsets(ctx, TxnCommitRequest{TransactionalID: "tx", Group: "g", ProducerID: pid, Epoch: ep, Generation: -1,
		Offsets: map[TopicPartition]Offset{{"in", 0}: {Offset: 42}}}), nil)
	f("txn commit other group", h.c.CommitOffsets(ctx, TxnCommitRequest{TransactionalID: "tx", Group: "other", ProducerID: pid, Epoch: ep, Generation: -1}), ErrInvalidTxnState)
	if v, _ := h.c.Verify(ctx, "tx", pid, ep, []TopicPartition{tp, {"x", 1}}); v[tp] != nil || v[TopicPartition{"x", 1}] == nil {
		t.Fatalf("verify = %v", v)
	}
	if len(h.offsets.committed) != 0 {
		t.Fatal("offsets visible before commit")
	}
	f("commit", h.c.EndTxn(ctx, "tx", pid, ep, true), nil)
	// EndTxn answers once PrepareCommit is durable; the markers follow
	// (here at the Tick: Run is not running) and the producer waits.
	if d, _, _ := h.c.Describe(ctx, "tx"); d.State != PrepareCommit || len(h.markers.got) != 0 || len(h.offsets.committed) != 0 {
		t.Fatalf("after EndTxn: state %s, markers %+v, offsets %v; want PrepareCommit and nothing written", d.State, h.markers.got, h.offsets.committed)
	}
	f("next txn before the markers", h.c.AddPartitions(ctx, "tx", pid, ep, []TopicPartition{tp}), ErrConcurrentTransactions)
	f("commit retry before the markers", h.c.EndTxn(ctx, "tx", pid, ep, true), ErrConcurrentTransactions)
	f("abort before the markers", h.c.EndTxn(ctx, "tx", pid, ep, false), ErrInvalidTxnState)
	h.c.Tick(ctx)
	if got := h.offsets.committed["g"][TopicPartition{"in", 0}].Offset; got != 42 {
		t.Fatalf("committed offset = %d, want 42", got)
	}
	if len(h.markers.got) != 1 || !h.markers.got[0].Commit || len(h.markers.got[0].Partitions) != 2 {
		t.Fatalf("markers = %+v", h.markers.got)
	}
	f("commit retry", h.c.EndTxn(ctx, "tx", pid, ep, true), nil)
	f("abort after commit", h.c.EndTxn(ctx, "tx", pid, ep, false), ErrInvalidTxnState)

	// A new producer instance fences the old one and aborts its transaction.
	f("add 2", h.c.AddPartitions(ctx, "tx", pid, ep, []TopicPartition{tp}), nil)
	h.c.CommitOffsets(ctx, TxnCommitRequest{TransactionalID: "tx", Group: "g", ProducerID: pid, Epoch: ep, Generation: -1,
		Offsets: map[TopicPartition]Offset{{"in", 0}: {Offset: 99}}})
	_ = h.c.AddOffsets(ctx, "tx", pid, ep, "g")
	pid2, ep2 := init(-1, -1)
	if pid2 != pid || ep2 != ep+2 {
		t.Fatalf("re-init = %d/%d, want %d/%d", pid2, ep2, pid, ep+2)
	}
	last := h.markers.got[len(h.markers.got)-1]
	if last.Commit || last.ProducerEpoch != ep+1 {
		t.Fatalf("fencing marker = %+v, want abort at epoch %d", last, ep+1)
	}
	if got := h.offsets.committed["g"][TopicPartition{"in", 0}].Offset; got != 42 {
		t.Fatalf("aborted offset commit became visible: %d", got)
	}
	f("zombie end", h.c.EndTxn(ctx, "tx", pid, ep, true), ErrProducerFenced)
	// KIP-360: re-init with the current id/epoch bumps; a retry of it returns the same.
	pid3, ep3 := init(pid2, ep2)
	if pid3 != pid2 || ep3 != ep2+1 {
		t.Fatalf("KIP-360 bump = %d/%d", pid3, ep3)
	}
	if p, e := init(pid2, ep2); p != pid3 || e != ep3 {
		t.Fatalf("retried bump = %d/%d, want %d/%d", p, e, pid3, ep3)
	}

	// Replay after a restart gives the same state.
	f("add 3", h.c.AddPartitions(ctx, "tx", pid3, ep3, []TopicPartition{tp}), nil)
	h.restart(t)
	d, ok, err := h.c.Describe(ctx, "tx")
	if err != nil || !ok || d.State != Ongoing || d.ProducerID != pid3 || d.Epoch != ep3 || len(d.Partitions) != 1 {
		t.Fatalf("after restart: %+v %v %v", d, ok, err)
	}
	// The timeout aborts it with a bumped epoch.
	h.clk.Advance(2 * time.Minute)
	h.c.Tick(ctx)
	d, _, _ = h.c.Describe(ctx, "tx")
	if d.State != CompleteAbort || d.Epoch != ep3+1 {
		t.Fatalf("after timeout: %+v", d)
	}
	f("end after timeout", h.c.EndTxn(ctx, "tx", pid3, ep3, true), ErrProducerFenced)
}

func TestPrepareCompletesAfterMarkerFailure(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	pid, ep, _ := h.c.InitProducerID(ctx, InitRequest{TransactionalID: "tx", Timeout: time.Minute, ProducerID: -1, Epoch: -1})
	_ = h.c.AddPartitions(ctx, "tx", pid, ep, []TopicPartition{{"a", 0}})
	h.markers.fail = errors.New("disk on fire")
	if err := h.c.EndTxn(ctx, "tx", pid, ep, true); err != nil {
		t.Fatalf("EndTxn with failing markers: %v (the decision is durable)", err)
	}
	if d, _, _ := h.c.Describe(ctx, "tx"); d.State != PrepareCommit {
		t.Fatalf("state %s, want PrepareCommit", d.State)
	}
	if err := h.c.AddPartitions(ctx, "tx", pid, ep, []TopicPartition{{"a", 0}}); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("add while completing: %v", err)
	}
	h.markers.fail = nil
	h.restart(t) // and after a restart
	_ = h.c.Load(ctx, "tx")
	h.c.Tick(ctx)
	if d, _, _ := h.c.Describe(ctx, "tx"); d.State != CompleteCommit {
		t.Fatalf("state %s after tick, want CompleteCommit", d.State)
	}
}

func TestFileIDsNeverReused(t *testing.T) {
	fs := vfs.NewMem()
	ids, err := OpenFileIDs(fs, "/producer-ids")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for range 1500 {
		id, err := ids.Next()
		if err != nil || seen[id] {
			t.Fatalf("Next = %d, %v (seen %v)", id, err, seen[id])
		}
		seen[id] = true
	}
	crashed := fs.CrashClone()
	ids2, err := OpenFileIDs(crashed, "/producer-ids")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ids2.Next()
	if seen[id] {
		t.Fatalf("id %d reused after a crash", id)
	}
}
