package network

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// fileHandler answers Fetch by reading each requested partition's offset
// from one log, leaving the bytes in the file (handler.FileResponse) like
// the real Fetch handler; other requests go to the real handlers.
type fileHandler struct {
	l        *commitlog.Log
	maxBytes int32
	inner    Handler
}

type fileResponse struct {
	*kmsg.FetchResponse
	regions []handler.FileRegion
}

func (r *fileResponse) FileRegions() []handler.FileRegion { return r.regions }

func (h *fileHandler) Handle(ctx context.Context, rc *handler.RequestContext, req kmsg.Request) kmsg.Response {
	fr, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return h.inner.Handle(ctx, rc, req)
	}
	resp := fr.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(fr.Version)
	var slices []*commitlog.Slice
	for _, t := range fr.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.HighWatermark = p.Partition, h.l.LogEndOffset()
			s, err := h.l.Read(p.FetchOffset, h.maxBytes, h.l.LogEndOffset(), true)
			if err != nil {
				panic(err)
			}
			slices = append(slices, s)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	out := &fileResponse{FetchResponse: resp}
	i := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			s := slices[i]
			i++
			if s.Len == 0 || !rc.FileRegions {
				resp.Topics[ti].Partitions[pi].RecordBatches, _ = s.ReadAll(nil)
				s.Release()
				continue
			}
			out.regions = append(out.regions, handler.FileRegion{Field: &resp.Topics[ti].Partitions[pi].RecordBatches, Slice: s})
		}
	}
	return out
}

// testLog opens a log on the OS file system with n batches of about size
// bytes each, in segments of segBytes.
func testLog(t testing.TB, n, size int, segBytes int64) *commitlog.Log {
	t.Helper()
	cfg := commitlog.Config{SegmentBytes: segBytes, FileDeleteDelayMs: -1}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l, err := commitlog.Open(vfs.Default, t.TempDir()+"/t-0", cfg, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := record.NewBuilder(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	for i := range n {
		b.Reset(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: int64(1000 + i)})
		val := bytes.Repeat([]byte{byte(i)}, size)
		b.Add(record.Record{OffsetDelta: 0, Key: []byte(fmt.Sprint(i)), Value: val})
		batch, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	return l
}

// expected returns the bytes Read returns for offset, read from the file.
func expected(t testing.TB, l *commitlog.Log, offset int64, maxBytes int32) []byte {
	t.Helper()
	s, err := l.Read(offset, maxBytes, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	b, err := s.ReadAll(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fetchRequest(version int16, offsets ...int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID = -1
	for ti, name := range []string{"a", "bb"} {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = name
		t.TopicID[0] = byte(ti + 1)
		for i, off := range offsets {
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition, p.FetchOffset = int32(i), off
			t.Partitions = append(t.Partitions, p)
		}
		req.Topics = append(req.Topics, t)
	}
	return req
}

// doFetch sends req on c and returns the response.
func doFetch(t testing.TB, c net.Conn, corr int32, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	if _, err := c.Write(appendRequest(nil, corr, req)); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(req.Version)
	if got := readResponse(t, c, resp); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	return resp
}

func checkRecords(t testing.TB, resp *kmsg.FetchResponse, want [][]byte) {
	t.Helper()
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics, want 2", len(resp.Topics))
	}
	for ti, rt := range resp.Topics {
		if len(rt.Partitions) != len(want) {
			t.Fatalf("topic %d: %d partitions, want %d", ti, len(rt.Partitions), len(want))
		}
		for i, p := range rt.Partitions {
			if !bytes.Equal(p.RecordBatches, want[i]) {
				t.Fatalf("topic %d partition %d: %d record bytes differ from the %d in the file", ti, i, len(p.RecordBatches), len(want[i]))
			}
		}
	}
}

// TestZeroCopyFetchByteExact: every Fetch version, with all regions sent by
// sendfile, none, and a mix, answers the file's bytes exactly.
func TestZeroCopyFetchByteExact(t *testing.T) {
	l := testLog(t, 200, 900, 64<<10)
	offsets := []int64{0, 5, 70, 199, 200} // 200 is the log end: no records
	const maxBytes = 20 << 10
	var want [][]byte
	for _, off := range offsets {
		want = append(want, expected(t, l, off, maxBytes))
	}
	var sent int
	testHookBeforeSendfile = func() { sent++ } // one connection: one writer
	t.Cleanup(func() { testHookBeforeSendfile = nil })
	f := func(name string, minBytes int64, wantSent int) {
		t.Helper()
		sent = 0
		h := &fileHandler{l: l, maxBytes: maxBytes, inner: handler.New(handler.Deps{})}
		s := start(t, h, Config{SendfileMinBytes: minBytes})
		c := dial(t, s.addr)
		for v := int16(4); v <= 16; v++ {
			resp := doFetch(t, c, int32(v), fetchRequest(v, offsets...))
			checkRecords(t, resp, want)
		}
		if logs := s.logs.String(); bytes.Contains([]byte(logs), []byte("BUG")) {
			t.Errorf("%s: %s", name, logs)
		}
		s.stop()
		if sent != wantSent {
			t.Errorf("%s: %d regions sent with sendfile, want %d", name, sent, wantSent)
		}
	}
	versions := 16 - 4 + 1
	f("sendfile", 1, versions*2*4) // 2 topics × 4 partitions with records
	f("copy", -1, 0)
	f("mixed", 2<<10, versions*2*3) // offset 199's one batch (~1 KiB) is copied
}

// TestZeroCopyConcurrentFetches: many connections fetch overlapping regions
// of one segment at once; sendfile's explicit offsets keep them apart.
func TestZeroCopyConcurrentFetches(t *testing.T) {
	l := testLog(t, 300, 500, 1<<30)
	h := &fileHandler{l: l, maxBytes: 8 << 10, inner: handler.New(handler.Deps{})}
	s := start(t, h, Config{SendfileMinBytes: 1})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range 40 {
				offs := []int64{int64((g*37 + i*13) % 300), int64((g*11 + i*7) % 300)}
				want := [][]byte{expected(t, l, offs[0], 8<<10), expected(t, l, offs[1], 8<<10)}
				resp := doFetch(t, c, int32(i), fetchRequest(int16(4+i%13), offs...))
				for _, rt := range resp.Topics {
					for pi, p := range rt.Partitions {
						if !bytes.Equal(p.RecordBatches, want[pi]) {
							errs <- fmt.Errorf("goroutine %d fetch %d partition %d: bytes differ", g, i, pi)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestZeroCopySegmentDeletedInFlight: retention deletes the segment (and
// then the whole log) between the response header and the sendfile; the
// open file still holds the bytes, and they arrive intact.
func TestZeroCopySegmentDeletedInFlight(t *testing.T) {
	l := testLog(t, 100, 900, 16<<10)
	want := [][]byte{expected(t, l, 0, 4<<10), expected(t, l, 1, 4<<10)}
	h := &fileHandler{l: l, maxBytes: 4 << 10, inner: handler.New(handler.Deps{})}
	s := start(t, h, Config{SendfileMinBytes: 1})
	var once sync.Once
	testHookBeforeSendfile = func() {
		once.Do(func() {
			if _, err := l.DeleteRecordsBefore(90); err != nil {
				t.Errorf("DeleteRecordsBefore: %v", err)
			}
			if err := l.Delete(); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
	}
	t.Cleanup(func() { testHookBeforeSendfile = nil })
	c := dial(t, s.addr)
	checkRecords(t, doFetch(t, c, 1, fetchRequest(12, 0, 1)), want)
	if _, err := vfs.Default.Stat(l.Dir()); err == nil {
		t.Errorf("log directory %s still exists: the hook did not run", l.Dir())
	}
}

func TestPlaceholderLen(t *testing.T) {
	f := func(n int64, want int) {
		t.Helper()
		if got := placeholderLen(n); got != want {
			t.Errorf("placeholderLen(%d) = %d, want %d", n, got, want)
		}
	}
	f(1, 1)
	f(126, 1)
	f(127, 127)
	f(16382, 127)
	f(16383, 16383)
	f(2097150, 16383)
	f(2097151, 2097151)
	f(1<<28-2, 2097151)
	f(1<<28-1, 0)
}

// TestFirstSameDiff checks the word-wise scans against byte loops on random
// inputs with runs of equal and different bytes at every alignment.
func TestFirstSameDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		n := rng.IntN(80)
		a, b := make([]byte, n), make([]byte, n)
		same := rng.IntN(2) == 0
		for i := range a {
			if rng.IntN(12) == 0 {
				same = !same // runs of equal and of different bytes
			}
			a[i] = byte(rng.IntN(3))
			if same {
				b[i] = a[i]
			} else {
				b[i] = a[i] ^ byte(1+rng.IntN(255))
			}
		}
		wantSame, wantDiff := n, n
		for i := n - 1; i >= 0; i-- {
			if a[i] == b[i] {
				wantSame = i
			} else {
				wantDiff = i
			}
		}
		if got := firstSame(a, b); got != wantSame {
			t.Fatalf("firstSame(%x, %x) = %d, want %d", a, b, got, wantSame)
		}
		if got := firstDiff(a, b); got != wantDiff {
			t.Fatalf("firstDiff(%x, %x) = %d, want %d", a, b, got, wantDiff)
		}
	}
}

// BenchmarkFirstSame scans a 2 MiB placeholder run (0x00 against 0xFF), the
// largest a spliced region gets: loop=bytes is the byte-at-a-time loop
// firstSame replaced (the baseline), loop=words is firstSame.
func BenchmarkFirstSame(b *testing.B) {
	x, y := make([]byte, 2<<20), make([]byte, 2<<20)
	for i := range y {
		y[i] = 0xff
	}
	bytewise := func(a, b []byte) int {
		i := 0
		for ; i < len(a) && a[i] != b[i]; i++ {
		}
		return i
	}
	for _, loop := range []string{"bytes", "words"} {
		f := firstSame
		if loop == "bytes" {
			f = bytewise
		}
		b.Run("loop="+loop, func(b *testing.B) {
			b.SetBytes(int64(len(x)))
			for b.Loop() {
				if f(x, y) != len(x) {
					b.Fatal("wrong")
				}
			}
		})
	}
}
