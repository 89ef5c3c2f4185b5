package commitlog

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// testRecord is one record for makeBatch.
type testRecord struct {
	key, value []byte // nil value: tombstone
	tsDelta    int64
}

// makeBatch encodes an uncompressed magic-2 batch at base offset 0.
func makeBatch(baseTs int64, recs ...testRecord) []byte {
	return makeBatchOpts(batchOpts{baseTs: baseTs, pid: -1, epoch: -1, seq: -1}, recs...)
}

type batchOpts struct {
	baseTs, pid int64
	epoch       int16
	seq         int32
	attrs       int16
	baseOffset  int64
}

func makeBatchOpts(o batchOpts, recs ...testRecord) []byte {
	var body []byte
	maxTs := o.baseTs
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, r.tsDelta)
		rec = binary.AppendVarint(rec, int64(i))
		if r.key == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.key)))
			rec = append(rec, r.key...)
		}
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0) // headers
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
		maxTs = max(maxTs, o.baseTs+r.tsDelta)
	}
	b := make([]byte, record.HeaderSize, record.HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(o.baseOffset))
	be.PutUint32(b[8:], uint32(record.HeaderSize-record.LogOverhead+len(body)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(o.attrs))
	be.PutUint32(b[23:], uint32(len(recs)-1))
	be.PutUint64(b[27:], uint64(o.baseTs))
	be.PutUint64(b[35:], uint64(maxTs))
	be.PutUint64(b[43:], uint64(o.pid))
	be.PutUint16(b[51:], uint16(o.epoch))
	be.PutUint32(b[53:], uint32(o.seq))
	be.PutUint32(b[57:], uint32(len(recs)))
	b = append(b, body...)
	be.PutUint32(b[17:], record.Checksum(b))
	return b
}

// valueBatch makes a batch of n records with values of size bytes each,
// each value starting with tag so that reads can be checked.
func valueBatch(ts int64, n, size int, tag string) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, size)
		copy(v, fmt.Sprintf("%s/%d", tag, i))
		recs[i] = testRecord{key: []byte(fmt.Sprintf("k%d", i)), value: v}
	}
	return makeBatch(ts, recs...)
}

var testStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOpts(clk clock.Clock) Options {
	return Options{Clock: clk, Logger: quietLogger()}
}

func smallConfig() Config {
	return Config{SegmentBytes: 4 << 10, IndexIntervalBytes: 256, RetentionMs: -1}
}

func openTest(t testing.TB, fs vfs.FS, dir string, cfg Config, clk clock.Clock) *Log {
	t.Helper()
	l, err := Open(fs, dir, cfg, testOpts(clk))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// readAllBatches reads every batch from offset to the LEO and returns their
// headers and bytes.
func readAllBatches(t testing.TB, l *Log, from int64) []record.Header {
	t.Helper()
	var out []record.Header
	off := from
	for range 1_000_000 {
		if off >= l.LogEndOffset() {
			return out
		}
		s, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b, err := s.ReadAll(nil)
		s.Release()
		if err != nil {
			t.Fatalf("ReadAll at %d: %v", off, err)
		}
		if len(b) == 0 {
			return out
		}
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				t.Fatalf("read at %d: bad batch: %v", off, err)
			}
			if record.Checksum(b[:h.Size()]) != h.CRC {
				t.Fatalf("read at %d: batch %d CRC mismatch", off, h.BaseOffset)
			}
			out = append(out, h)
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	t.Fatalf("readAllBatches did not finish")
	return nil
}

type atomicBool struct{ v atomic.Bool }

func (a *atomicBool) get() bool  { return a.v.Load() }
func (a *atomicBool) set(v bool) { a.v.Store(v) }

func parseHeaderForBench(b []byte) (record.Header, error) { return record.ParseHeader(b) }
