package handler

import (
	"testing"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// timestampLog returns a log over several segments: batch i holds records
// 3i, 3i+1, 3i+2 with timestamps 1000+10i, +1, +2, except that record 3×55+1
// carries the largest timestamp, 9000.
func timestampLog(t testing.TB, batches int) *commitlog.Log {
	t.Helper()
	cfg := commitlog.Config{SegmentBytes: 2 << 10, IndexIntervalBytes: 256}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l, err := commitlog.Open(vfs.NewMem(), "/data/t-0", cfg, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := record.NewBuilder(record.BuilderOptions{})
	for i := range batches {
		base := int64(1000 + 10*i)
		b.Reset(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: base})
		for j := range int32(3) {
			delta := int64(j)
			if i == 55 && j == 1 {
				delta = 9000 - base
			}
			b.Add(record.Record{OffsetDelta: j, TimestampDelta: delta, Value: make([]byte, 40)})
		}
		batch, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestLookupOffset(t *testing.T) {
	l := timestampLog(t, 60) // 180 records over several 2 KiB segments
	f := func(ts, maxOffset, wantTs, wantOffset int64) {
		t.Helper()
		gotTs, gotOffset := lookupOffset(l, ts, maxOffset)
		if gotTs != wantTs || gotOffset != wantOffset {
			t.Errorf("lookupOffset(%d, max %d) = (%d, %d), want (%d, %d)", ts, maxOffset, gotTs, gotOffset, wantTs, wantOffset)
		}
	}
	f(tsLatest, 180, -1, 180)
	f(tsLatest, 100, -1, 100)
	f(tsEarliest, 180, -1, 0)
	f(tsEarliestLocal, 180, -1, 0)
	f(tsLatestTiered, 180, -1, -1)
	f(-7, 180, -1, -1)
	f(0, 180, 1000, 0)
	f(1000, 180, 1000, 0)
	f(1001, 180, 1001, 1)
	f(1003, 180, 1010, 3)      // the next batch's first record
	f(1412, 180, 1412, 3*41+2) // deep in a later segment, through the time index
	f(1550, 180, 1550, 3*55)
	f(1552, 180, 9000, 3*55+1) // the first offset at or after the time, as Kafka
	f(1590, 180, 9000, 3*55+1)
	f(9000, 180, 9000, 3*55+1)
	f(9001, 180, -1, -1)
	f(1412, 3*41+2, -1, -1) // at the high watermark: not visible
	f(tsMaxTimestamp, 180, 9000, 3*55+1)
	f(tsMaxTimestamp, 3*55+1, -1, -1)
}

// BenchmarkLookupOffset: the indexed lookup of a timestamp near the end.
func BenchmarkLookupOffset(b *testing.B) {
	l := timestampLog(b, 3000)
	b.ReportAllocs()
	for b.Loop() {
		if _, off := lookupOffset(l, 1000+10*2990, 9000*3); off != 3*2990 {
			b.Fatalf("offset %d", off)
		}
	}
}

// BenchmarkLookupOffsetLinearScan is the baseline: the linear scan of batch
// headers that lookupOffset replaced, for the same query.
func BenchmarkLookupOffsetLinearScan(b *testing.B) {
	l := timestampLog(b, 3000)
	target := int64(1000 + 10*2990)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		found := int64(-1)
		for off := l.LogStartOffset(); off < l.LogEndOffset() && found < 0; {
			s, err := l.Read(off, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				b.Fatal(err)
			}
			buf, err = s.ReadAll(buf[:0])
			s.Release()
			if err != nil || len(buf) == 0 {
				b.Fatal(err)
			}
			it := record.NewBatches(buf)
			for batch, hd, ok := it.Next(); ok; batch, hd, ok = it.Next() {
				off = hd.NextOffset()
				if hd.MaxTimestamp >= target {
					recs, err := record.DecodeRecords(batch, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					found = hd.BaseOffset + int64(recs[0].OffsetDelta)
					break
				}
			}
		}
		if found != 3*2990 {
			b.Fatalf("offset %d", found)
		}
	}
}
