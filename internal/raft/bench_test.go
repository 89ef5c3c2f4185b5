package raft

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/internal/vfs"
)

// proposeThroughput runs a group of `voters` nodes over an immediate
// MemNetwork on the given file systems and returns proposals per second
// with `clients` concurrent proposers making n proposals in all.
func proposeThroughput(b *testing.B, voters int, fsFor func(id uint64) (vfs.FS, string), n, clients int) float64 {
	b.Helper()
	net := NewMemNetwork(1)
	net.SetDelay(0, 0)
	ids := make([]uint64, voters)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	nodes := make([]*Node, voters)
	for i, id := range ids {
		app := &kvApp{}
		fs, dir := fsFor(id)
		nd, err := Open(Config{ID: id, FS: fs, Dir: dir, Voters: ids, Transport: net.Transport(id),
			TickInterval: 10 * time.Millisecond, Apply: func(uint64, []byte) {}, Restore: app.Restore,
			Snapshot: app.Snapshot, Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		net.Register(id, nd)
		nodes[i] = nd
	}
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	for _, nd := range nodes {
		g.Go(func() error { return nd.Run(ctx) })
	}
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			b.Error(err)
		}
		for _, nd := range nodes {
			nd.Close()
		}
	}()
	var leader *Node
	for deadline := time.Now().Add(10 * time.Second); leader == nil && time.Now().Before(deadline); {
		for _, nd := range nodes {
			if nd.Status().Role == "leader" {
				leader = nd
			}
		}
		time.Sleep(time.Millisecond)
	}
	if leader == nil {
		b.Fatal("no leader")
	}
	// One barrier so that the new leader's own-term entry is committed.
	if _, err := leader.ReadIndex(ctx); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 100)
	start := time.Now()
	var wg sync.WaitGroup
	var errOnce sync.Once
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += clients {
				if _, err := leader.Propose(ctx, payload); err != nil {
					errOnce.Do(func() { b.Error(err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkProposeRatio reports proposals/s of a 3-voter group and of a
// 1-voter group in the same run, and their ratio, on MemFS (the driver's
// and raft's own cost) and on the real disk through vfs.Default (fsync).
func BenchmarkProposeRatio(b *testing.B) {
	for _, disk := range []bool{false, true} {
		name := "memfs"
		if disk {
			name = "disk"
		}
		b.Run(name, func(b *testing.B) {
			fsFor := func(dir string) func(id uint64) (vfs.FS, string) {
				return func(id uint64) (vfs.FS, string) {
					if disk {
						return vfs.Default, fmt.Sprintf("%s/n%d", dir, id)
					}
					return vfs.NewMem(), "/raft"
				}
			}
			const clients = 32
			var one, three float64
			for b.Loop() {
				n := 2000
				if disk {
					n = 500
				}
				one = proposeThroughput(b, 1, fsFor(b.TempDir()), n, clients)
				three = proposeThroughput(b, 3, fsFor(b.TempDir()), n, clients)
			}
			b.ReportMetric(one, "props/s-1voter")
			b.ReportMetric(three, "props/s-3voters")
			b.ReportMetric(three/one, "ratio-3v/1v")
		})
	}
}
