package commitlog

import (
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestTruncateFullyAndStartAt: a follower's log restarts at its leader's
// log start offset: empty, starting and ending there, no epochs; appends of
// the leader's batches from that offset on work, and a reopen after a crash
// keeps the new start.
func TestTruncateFullyAndStartAt(t *testing.T) {
	fs := vfs.NewMem()
	clk := clock.NewFake(time.Unix(1700000000, 0))
	cfg := DefaultConfig()
	l, err := Open(fs, "/data/t-0", cfg, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(base int64, epoch int32, n int) []byte {
		b := record.NewBuilder(record.BuilderOptions{BaseOffset: base, BaseTimestamp: clk.Now().UnixMilli(),
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: epoch})
		for i := range n {
			b.Add(record.Record{OffsetDelta: int32(i), Value: []byte("v")})
		}
		out, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if _, err := l.Append(batch(0, 0, 10), 3); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if s, e, n := l.LogStartOffset(), l.LogEndOffset(), len(l.LeaderEpochs().Entries()); s != 500 || e != 500 || n != 0 {
		t.Fatalf("after start at 500: start %d end %d epochs %d, want 500 500 0", s, e, n)
	}
	if _, err := l.AppendReplicated(batch(500, 7, 5)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if e := l.LogEndOffset(); e != 505 {
		t.Fatalf("end after append %d, want 505", e)
	}
	crashed := fs.CrashClone()
	l.Close()
	l2, err := Open(crashed, "/data/t-0", cfg, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if s, e := l2.LogStartOffset(), l2.LogEndOffset(); s != 500 || e != 505 {
		t.Fatalf("after crash: start %d end %d, want 500 505", s, e)
	}
	if es := l2.LeaderEpochs().Entries(); len(es) != 1 || es[0].Epoch != 7 || es[0].StartOffset != 500 {
		t.Fatalf("epochs after crash %+v, want [{7 500}]", es)
	}
}
