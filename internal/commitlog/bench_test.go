package commitlog

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Benchmarks. Figures and commands are in docs/benchmarks.md. They run on
// vfs.Default in b.TempDir(), so fsync reaches the real disk.

const benchBatchBytes = 16 << 10

// benchBatch builds an uncompressed batch of about 16 KiB of recSize-byte
// values.
func benchBatch(recSize int) []byte {
	per := recSize + 20
	n := max(1, (benchBatchBytes-61)/per)
	return valueBatch(1, n, recSize, "bench")
}

// BenchmarkRawWrite is the baseline: os.File.Write of 16 KiB blocks, with
// an fsync after each write (each) or after every 64 writes, 1 MiB (group).
// It is the only code in the package that uses os directly.
func BenchmarkRawWrite(b *testing.B) {
	for _, mode := range []string{"each", "group"} {
		b.Run("sync="+mode, func(b *testing.B) {
			f, err := os.Create(b.TempDir() + "/raw")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, benchBatchBytes)
			b.SetBytes(benchBatchBytes)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if mode == "each" || i%64 == 63 {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppend appends 16 KiB batches of 100 B or 1 KiB records.
//
//	sync=each:  one writer, Append then WaitDurable (one fsync per batch)
//	sync=group: 16 writers, each Append then WaitDurable (group commit)
//	sync=group64: the same with 64 writers (up to 1 MiB per fsync)
//	sync=none:  one writer, Append only, one Flush at the end
func BenchmarkAppend(b *testing.B) {
	for _, recSize := range []int{100, 1024} {
		for _, mode := range []string{"each", "group", "group64", "none"} {
			b.Run(fmt.Sprintf("rec=%dB/sync=%s", recSize, mode), func(b *testing.B) {
				l, err := Open(vfs.Default, b.TempDir()+"/bench-0", Config{SegmentBytes: 256 << 20}, testOpts(nil))
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				tmpl := benchBatch(recSize)
				b.SetBytes(int64(len(tmpl)))
				writers := 1
				switch mode {
				case "group":
					writers = 16
				case "group64":
					writers = 64
				}
				var wg sync.WaitGroup
				var next sync.Mutex
				left := b.N
				b.ResetTimer()
				for range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						batch := append([]byte(nil), tmpl...)
						for {
							next.Lock()
							if left == 0 {
								next.Unlock()
								return
							}
							left--
							next.Unlock()
							res, err := l.Append(batch, 0)
							if err != nil {
								b.Error(err)
								return
							}
							if mode != "none" {
								if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
									b.Error(err)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkRead reads a 64 MiB log from start to end in 1 MiB fetches
// (Read + ReadAll, the non-sendfile path).
func BenchmarkRead(b *testing.B) {
	l, err := Open(vfs.Default, b.TempDir()+"/bench-0", Config{SegmentBytes: 16 << 20}, testOpts(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch(1024)
	var total int64
	for total < 64<<20 {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
		total += int64(len(batch))
	}
	l.Flush()
	b.SetBytes(total)
	buf := make([]byte, 0, 1<<20+benchBatchBytes)
	b.ResetTimer()
	for range b.N {
		off := int64(0)
		for off < l.LogEndOffset() {
			s, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				b.Fatal(err)
			}
			buf, err = s.ReadAll(buf[:0])
			s.Release()
			if err != nil || len(buf) == 0 {
				b.Fatal(err)
			}
			off = lastNextOffset(buf)
		}
	}
}

// BenchmarkIndexLookup is one sparse-index lookup in a full 10 MiB index.
func BenchmarkIndexLookup(b *testing.B) {
	idx := make([]offsetEntry, (10<<20)/offsetEntrySize)
	for i := range idx {
		idx[i] = offsetEntry{rel: uint32(i * 40), pos: uint32(i * 4096)}
	}
	b.ResetTimer()
	var sink int64
	for i := range b.N {
		sink += lookupOffset(idx, int64(i*7919)%int64(len(idx)*40))
	}
	_ = sink
}

// BenchmarkRecover is a full recovery (CRC of every batch, index rebuild)
// of a 64 MiB log; ns/op × 16 is the time per GiB.
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir() + "/bench-0"
	cfg := Config{SegmentBytes: 16 << 20}
	l, err := Open(vfs.Default, dir, cfg, testOpts(nil))
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(1024)
	var total int64
	for total < 64<<20 {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
		total += int64(len(batch))
	}
	l.Close()
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		l, err := Open(vfs.Default, dir, cfg, testOpts(nil)) // no checkpoint: recovers every segment
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
}

func lastNextOffset(b []byte) int64 {
	var next int64
	for len(b) >= 61 {
		h, err := parseHeaderForBench(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}

// BenchmarkManagerProduce is the produce handler's pattern across
// partitions: 4 clients, each "request" appends one 1 KiB-record batch of
// about 16 KiB to each of P logs of a Manager, then waits for each in turn.
// One op is one request.
//
//	sync=inline:  Manager.Run not running; each WaitDurable leads its own
//	              log's fsync, one partition after another (the old path)
//	sync=workers: Manager.Run's fsync workers (group commit across
//	              partitions; appends queue their log at once)
func BenchmarkManagerProduce(b *testing.B) {
	for _, parts := range []int{1, 8, 64} {
		for _, mode := range []string{"inline", "workers"} {
			b.Run(fmt.Sprintf("partitions=%d/sync=%s", parts, mode), func(b *testing.B) {
				var syncs atomic.Int64
				fs := vfs.NewFaulty(vfs.Default, vfs.InjectorFunc(func(op vfs.Op, _ string) vfs.Fault {
					if op == vfs.OpSync {
						syncs.Add(1)
					}
					return vfs.Fault{}
				}))
				m, err := NewManager(fs, b.TempDir(), testOpts(nil))
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				var ls []*Log
				for p := range parts {
					l, err := m.Create("bench", int32(p), Config{SegmentBytes: 256 << 20})
					if err != nil {
						b.Fatal(err)
					}
					ls = append(ls, l)
				}
				if mode == "workers" {
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { defer close(done); _ = m.Run(ctx) }()
					defer func() { cancel(); <-done }()
				}
				tmpl := benchBatch(1024)
				b.SetBytes(int64(len(tmpl) * parts))
				syncs.Store(0)
				var wg sync.WaitGroup
				var next sync.Mutex
				left := b.N
				b.ResetTimer()
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						batch := append([]byte(nil), tmpl...)
						ends := make([]int64, len(ls))
						for {
							next.Lock()
							if left == 0 {
								next.Unlock()
								return
							}
							left--
							next.Unlock()
							for p, l := range ls {
								res, err := l.Append(batch, 0)
								if err != nil {
									b.Error(err)
									return
								}
								ends[p] = res.LastOffset
							}
							for p, l := range ls {
								if err := l.WaitDurable(context.Background(), ends[p]); err != nil {
									b.Error(err)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/op")
			})
		}
	}
}

// BenchmarkProduceValidation is the produce path's CPU without fsync: the
// handler's record.Validate of a 16 KiB batch of 100 B records, then the
// append. walks=2 is the old path (Append validates the records again);
// walks=1 is AppendProducer's (appendLeader skips the record walk).
func BenchmarkProduceValidation(b *testing.B) {
	for _, walks := range []int{2, 1} {
		b.Run(fmt.Sprintf("rec=100B/walks=%d", walks), func(b *testing.B) {
			l, err := Open(vfs.Default, b.TempDir()+"/bench-0", Config{SegmentBytes: 1 << 30}, testOpts(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			tmpl := benchBatch(100)
			batch := append([]byte(nil), tmpl...)
			b.SetBytes(int64(len(tmpl)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := record.Validate(batch, record.ValidateOptions{MaxBatchBytes: 1 << 20}); err != nil {
					b.Fatal(err)
				}
				if _, err := l.appendLeader(batch, 0, walks == 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkManagerCreate creates empty logs in one data directory, as a
// broker does when one CreateTopics gives it thousands of partitions
// (docs/benchmarks.md "Metadata propagation"): one Create after another,
// or all b.N with one CreateMany.
func BenchmarkManagerCreate(b *testing.B) {
	for _, mode := range []string{"create", "many"} {
		b.Run(mode, func(b *testing.B) {
			m, err := NewManager(vfs.Default, b.TempDir(), Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if err := m.Load(func(string, int32) Config { return DefaultConfig() }); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if mode == "create" {
				for i := 0; i < b.N; i++ {
					if _, err := m.Create("wide", int32(i), DefaultConfig()); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				specs := make([]NewLog, b.N)
				for i := range specs {
					specs[i] = NewLog{Topic: "wide", Partition: int32(i), Config: DefaultConfig()}
				}
				_, errs := m.CreateMany(specs)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
		})
	}
}
