package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leasedLog is a MemLog whose lease can be lost, as a ReplicatedLog's is
// when the partition's leadership moves.
type leasedLog struct {
	*MemLog
	lost atomic.Bool
}

func (l *leasedLog) Current() error {
	if l.lost.Load() {
		return fmt.Errorf("%w: lease lost", ErrNotLeader)
	}
	return nil
}

// testStorage hands out one leasedLog per partition, or an error.
type testStorage struct {
	mu   sync.Mutex
	logs map[int32]*leasedLog
	errs map[int32]error // guarded by mu: what opening the partition returns
}

func (st *testStorage) open(p int32) (*leasedLog, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.errs[p]; err != nil {
		return nil, err
	}
	if st.logs == nil {
		st.logs = make(map[int32]*leasedLog)
	}
	l := st.logs[p]
	if l == nil || l.lost.Load() {
		l = &leasedLog{MemLog: NewMemLog()}
		st.logs[p] = l
	}
	return l, nil
}

func (st *testStorage) fail(p int32, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.errs == nil {
		st.errs = make(map[int32]error)
	}
	st.errs[p] = err
}

// countShard counts its loads and keeps the records it replayed.
type countShard struct {
	Slot
	st      *testStorage
	loads   int
	unloads int
	keys    []string // nil while not loaded
}

func (s *countShard) Load(ctx context.Context) (Log, error) {
	s.loads++
	l, err := s.st.open(s.Partition())
	if err != nil {
		return nil, err
	}
	s.keys = []string{}
	err = l.Replay(ctx, func(_ int64, r Record) error {
		s.keys = append(s.keys, string(r.Key))
		return nil
	})
	return l, err
}

func (s *countShard) Unload() {
	s.unloads++
	s.keys = nil
}

func newTestShards(n int32) (*Shards[*countShard], *testStorage) {
	st := &testStorage{}
	return NewShards("__test", n, func() *countShard { return &countShard{st: st} }), st
}

// TestShardsLoadOnce: a shard is made once per partition, loads on first
// use, replays its log, and stays loaded while its lease holds.
func TestShardsLoadOnce(t *testing.T) {
	ctx := context.Background()
	tab, st := newTestShards(4)
	s := tab.For("group-a")
	if s != tab.Get(tab.PartitionFor("group-a")) || s.Partition() != PartitionFor("group-a", 4) {
		t.Fatalf("For and Get disagree on partition %d", s.Partition())
	}
	l, _ := st.open(s.Partition())
	if _, err := l.Append([]Record{{Key: []byte("k1")}, {Key: []byte("k2")}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := tab.Load(ctx, s.Partition()); err != nil {
			t.Fatal(err)
		}
	}
	s.Lock()
	defer s.Unlock()
	if s.loads != 1 || !slices.Equal(s.keys, []string{"k1", "k2"}) || s.Log() == nil {
		t.Fatalf("loads %d, keys %q, log %v: want one load of k1, k2", s.loads, s.keys, s.Log())
	}
}

// TestShardsReloadAfterLeaseLost: a shard whose lease is gone unloads
// before anything reads it and loads again from the new lease's log; if
// another broker leads now, the load fails with NOT_COORDINATOR and the
// shard stays unloaded.
func TestShardsReloadAfterLeaseLost(t *testing.T) {
	ctx := context.Background()
	tab, st := newTestShards(2)
	s := tab.Get(1)
	if err := tab.Load(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Lock()
	old := s.Log()
	s.Unlock()
	old.(*leasedLog).lost.Store(true)
	if err := tab.Load(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Lock()
	if s.loads != 2 || s.unloads != 1 || s.Log() == old {
		t.Errorf("after a lost lease: %d loads, %d unloads, same log %v; want 2, 1, a new log", s.loads, s.unloads, s.Log() == old)
	}
	s.Log().(*leasedLog).lost.Store(true)
	s.Unlock()

	st.fail(1, fmt.Errorf("%w: led by broker 2", ErrNotCoordinator))
	err := tab.Load(ctx, 1)
	if !errors.Is(err, ErrNotCoordinator) || !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("load led elsewhere: %v, want ErrNotCoordinator and ErrNotAvailable", err)
	}
	s.Lock()
	defer s.Unlock()
	if s.Log() != nil || s.keys != nil {
		t.Fatalf("shard still loaded after a failed load: log %v, keys %q", s.Log(), s.keys)
	}
}

// TestShardsUnloadLocked: after UnloadLocked (a failed write) the next
// LoadLocked replays the log again.
func TestShardsUnloadLocked(t *testing.T) {
	ctx := context.Background()
	tab, _ := newTestShards(1)
	s := tab.Get(0)
	s.Lock()
	defer s.Unlock()
	if err := s.LoadLocked(ctx); err != nil {
		t.Fatal(err)
	}
	s.UnloadLocked()
	if s.Log() != nil || s.keys != nil {
		t.Fatal("UnloadLocked left the shard loaded")
	}
	if err := s.LoadLocked(ctx); err != nil {
		t.Fatal(err)
	}
	if s.loads != 2 {
		t.Fatalf("%d loads, want 2", s.loads)
	}
}

// TestShardsEachAndLoaded: Each visits every partition it can load, skips
// the ones led elsewhere silently and reports the others; Loaded lists the
// loaded shards by partition.
func TestShardsEachAndLoaded(t *testing.T) {
	ctx := context.Background()
	tab, st := newTestShards(5)
	st.fail(1, fmt.Errorf("%w: led by broker 2", ErrNotCoordinator))
	broken := errors.New("disk on fire")
	st.fail(3, broken)
	var seen []int32
	err := tab.Each(ctx, func(s *countShard) {
		if s.Log() == nil {
			t.Errorf("partition %d passed to fn unloaded", s.Partition())
		}
		seen = append(seen, s.Partition())
	})
	if !errors.Is(err, broken) || !errors.Is(err, ErrNotAvailable) || errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("Each: %v, want only partition 3's failure", err)
	}
	if !slices.Equal(seen, []int32{0, 2, 4}) {
		t.Fatalf("Each visited %v, want [0 2 4]", seen)
	}
	var loaded []int32
	for _, s := range tab.Loaded() {
		loaded = append(loaded, s.Partition())
	}
	if !slices.Equal(loaded, []int32{0, 2, 4}) {
		t.Fatalf("Loaded = %v, want [0 2 4]", loaded)
	}
}

// TestShardsConcurrent: concurrent requests for the same keys share one
// shard per partition, each loaded once (run with -race).
func TestShardsConcurrent(t *testing.T) {
	ctx := context.Background()
	tab, _ := newTestShards(3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := fmt.Sprintf("key-%d", (g+i)%10)
				if err := tab.Load(ctx, tab.PartitionFor(key)); err != nil {
					t.Error(err)
					return
				}
				s := tab.For(key)
				s.Lock()
				s.keys = append(s.keys, key)
				s.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, s := range tab.Loaded() {
		s.Lock()
		if s.loads != 1 {
			t.Errorf("partition %d loaded %d times", s.Partition(), s.loads)
		}
		total += len(s.keys)
		s.Unlock()
	}
	if total != 8*50 {
		t.Fatalf("%d keys recorded, want %d", total, 8*50)
	}
}

// TestEvery: Every ticks until its context ends, then returns.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func(context.Context) {
			if calls++; calls == 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Every still running a minute after its context ended")
	}
	if calls != 3 {
		t.Fatalf("%d ticks, want 3", calls)
	}
}
