package commitlog

import (
	"bytes"
	"testing"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestReadBatches: the batches whose last offset is below end, across
// segments, appended to dst.
func TestReadBatches(t *testing.T) {
	l := openTest(t, vfs.NewMem(), "/t-0", smallConfig(), clock.NewFake(testStart))
	defer l.Close()
	var want [][]byte
	for i := range 20 {
		b := valueBatch(testStart.UnixMilli(), 3, 200, "b")
		if _, err := l.Append(b, 0); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		want = append(want, b)
	}
	f := func(end int64, wantBatches int) {
		t.Helper()
		got, err := l.ReadBatches([]byte("x"), end)
		if err != nil {
			t.Fatalf("ReadBatches(%d): %v", end, err)
		}
		if !bytes.HasPrefix(got, []byte("x")) {
			t.Fatalf("ReadBatches(%d) dropped dst", end)
		}
		n := 0
		it := record.NewBatches(got[1:])
		for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
			if h.BaseOffset != int64(3*n) || len(batch) != len(want[n]) {
				t.Fatalf("ReadBatches(%d): batch %d at offset %d, %d bytes; want offset %d, %d bytes", end, n, h.BaseOffset, len(batch), 3*n, len(want[n]))
			}
			n++
		}
		if n != wantBatches || it.Pos() != len(got)-1 {
			t.Errorf("ReadBatches(%d) = %d batches (%d of %d bytes parsed), want %d", end, n, it.Pos(), len(got)-1, wantBatches)
		}
	}
	f(0, 0)
	f(2, 0)
	f(3, 1)
	f(5, 1)
	f(6, 2)
	f(l.LogEndOffset(), 20)
}
