package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// runManager runs m.Run until the returned stop is called; stop joins it.
func runManager(t testing.TB, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Manager.Run: %v", err)
		}
	}
}

// TestSyncerAckedSurviveCrash: with Manager.Run's fsync workers, writers on
// many logs append and WaitDurable concurrently; a crash of the MemFS
// (dropping or tearing everything not fsynced) keeps every acknowledged
// batch of every log.
func TestSyncerAckedSurviveCrash(t *testing.T) {
	const logs, writers = 6, 8
	for seed := uint64(1); seed <= 10; seed++ {
		mem := vfs.NewMem()
		opts := testOpts(nil)
		opts.SyncWorkers = 3
		m, err := NewManager(mem, "/data", opts)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{SegmentBytes: 4 << 10, IndexIntervalBytes: 512, RetentionMs: -1}
		var ls []*Log
		for p := range int32(logs) {
			l, err := m.Create("t", p, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		stopRun := runManager(t, m)
		var mu sync.Mutex
		acked := make([]batchStore, logs)
		for i := range acked {
			acked[i] = batchStore{}
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := range 40 {
					p := rng.IntN(logs)
					b := valueBatch(int64(i), 1+rng.IntN(3), rng.IntN(200), "s")
					res, err := ls[p].Append(b, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if err := ls[p].WaitDurable(context.Background(), res.LastOffset); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked[p][res.FirstOffset] = b
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		crashed := mem.CrashCloneTorn(rand.New(rand.NewPCG(seed, 9)))
		stopRun()
		m.Close()
		for p := range logs {
			l2 := openTest(t, crashed, fmt.Sprintf("/data/t-%d", p), cfg, nil)
			checkAcked(t, seed, l2, acked[p])
			l2.Close()
		}
	}
}

// TestSyncerManyLogs: requests that append to many logs, then wait for each
// in turn (as the produce handler does), all complete with every log
// durable to its end, with fewer workers than logs. (How many fsyncs they
// share depends on timing; BenchmarkManagerProduce reports fsyncs/op.)
func TestSyncerManyLogs(t *testing.T) {
	var syncs atomic.Int64
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpSync && strings.HasSuffix(path, ".log") {
			syncs.Add(1)
		}
		return vfs.Fault{}
	}))
	opts := testOpts(nil)
	opts.SyncWorkers = 2
	m, err := NewManager(fs, "/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var ls []*Log
	for p := range int32(16) {
		l, err := m.Create("t", p, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	stopRun := runManager(t, m)
	defer stopRun()
	// One "request" appends to every log first, then waits for each in
	// turn, as the produce handler does.
	const requests = 20
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range requests {
				ends := make([]int64, len(ls))
				for p, l := range ls {
					res, err := l.Append(valueBatch(int64(i), 1, 10, "g"), 0)
					if err != nil {
						t.Error(err)
						return
					}
					ends[p] = res.LastOffset
				}
				for p, l := range ls {
					if err := l.WaitDurable(context.Background(), ends[p]); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if syncs.Load() == 0 {
		t.Error("no segment fsync")
	}
	for _, l := range ls {
		if d, e := l.DurableOffset(), l.LogEndOffset(); d != e {
			t.Errorf("log %d: durable offset %d, log end offset %d", l.Partition(), d, e)
		}
	}
}

// TestSyncerFsyncFailure: an fsync failure in a worker takes that log
// offline and fails its waiters with ErrLogOffline; other logs go on.
func TestSyncerFsyncFailure(t *testing.T) {
	var fail atomic.Bool
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpSync && fail.Load() && strings.Contains(path, "t-1") && strings.HasSuffix(path, ".log") {
			return vfs.Fault{Err: syscall.EIO}
		}
		return vfs.Fault{}
	}))
	m, err := NewManager(fs, "/data", testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l0, err := m.Create("t", 0, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	l1, err := m.Create("t", 1, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	stopRun := runManager(t, m)
	defer stopRun()
	fail.Store(true)
	r0, err := l0.Append(valueBatch(1, 1, 10, "a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := l1.Append(valueBatch(1, 1, 10, "b"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.WaitDurable(context.Background(), r1.LastOffset); !errors.Is(err, ErrLogOffline) {
		t.Errorf("WaitDurable after a failed fsync = %v, want ErrLogOffline", err)
	}
	if !l1.Offline() {
		t.Error("log not offline after a failed fsync")
	}
	if l1.DurableOffset() > r1.LastOffset {
		t.Errorf("durable offset %d covers a batch whose fsync failed", l1.DurableOffset())
	}
	if err := l0.WaitDurable(context.Background(), r0.LastOffset); err != nil {
		t.Errorf("other log: WaitDurable = %v", err)
	}
}

// TestSyncerStopFallsBack: after Manager.Run returns, WaitDurable still
// works (the caller leads the fsync), including for a round queued before.
func TestSyncerStopFallsBack(t *testing.T) {
	m, err := NewManager(vfs.NewMem(), "/data", testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Create("t", 0, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		stopRun := runManager(t, m)
		res, err := l.Append(valueBatch(1, 1, 10, "a"), 0)
		if err != nil {
			t.Fatal(err)
		}
		stopRun()
		res2, err := l.Append(valueBatch(1, 1, 10, "b"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{res.LastOffset, res2.LastOffset} {
			if err := l.WaitDurable(context.Background(), off); err != nil {
				t.Fatalf("round %d: WaitDurable(%d) = %v", round, off, err)
			}
		}
	}
}
