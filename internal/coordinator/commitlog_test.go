package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/vfs"
)

// TestPartitionLogSurvivesCrash appends through the adapter, crashes the
// file system (dropping what was not fsynced) and replays: every record
// whose WaitDurable returned is back, in order, tombstones included.
func TestPartitionLogSurvivesCrash(t *testing.T) {
	fs := vfs.NewMem()
	clk := clock.NewFake(time.Unix(1700000000, 0))
	cfg := commitlog.DefaultConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	m, err := commitlog.NewManager(fs, "/data", commitlog.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Create("__consumer_offsets", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pl := NewPartitionLog(l, clk, 0)
	var want []Record
	for i := range 50 {
		recs := []Record{{Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("v%d", i))}}
		if i%10 == 9 {
			recs = append(recs, Record{Key: []byte("k0")}) // tombstone
		}
		last, err := pl.Append(recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := pl.WaitDurable(context.Background(), last); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	// A big append becomes several batches.
	big := make([]Record, 3)
	for i := range big {
		big[i] = Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{'x'}, 300<<10)}
	}
	last, err := pl.Append(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.WaitDurable(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	want = append(want, big...)

	crashed := fs.CrashClone()
	m2, err := commitlog.NewManager(crashed, "/data", commitlog.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Load(func(string, int32) commitlog.Config { return cfg }); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	defer m.Close()
	l2, ok := m2.Get("__consumer_offsets", 0)
	if !ok {
		t.Fatal("log lost in the crash")
	}
	var got []Record
	var offs []int64
	err = NewPartitionLog(l2, clk, 0).Replay(context.Background(), func(off int64, r Record) error {
		got = append(got, Record{Key: clone(r.Key), Value: clone(r.Value)})
		offs = append(offs, off)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) || (got[i].Value == nil) != (want[i].Value == nil) || offs[i] != int64(i) {
			t.Fatalf("record %d at offset %d = %q/%.10q, want %q/%.10q", i, offs[i], got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
}
