package commitlog

import (
	"context"
	"errors"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// TestCreateMany: the logs come back in order, a partition that has a log
// is ErrExists, and every created log, with the durable appends made to it,
// survives a power loss right after (the one data-directory fsync covers
// every new partition directory; each log's own fsyncs cover its segment).
func TestCreateMany(t *testing.T) {
	mem := vfs.NewMem()
	m, err := NewManager(mem, "/data", testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := smallConfig()
	if _, err := m.Create("t", 1, cfg); err != nil {
		t.Fatal(err)
	}
	specs := []NewLog{{"t", 0, cfg}, {"t", 1, cfg}, {"t", 2, cfg}, {"u", 0, cfg}, {"", 0, cfg}}
	logs, errs := m.CreateMany(specs)
	for i, sp := range specs {
		switch {
		case sp.Topic == "":
			if !errors.Is(errs[i], ErrInvalidConfig) {
				t.Fatalf("%d: err %v, want ErrInvalidConfig", i, errs[i])
			}
		case sp.Topic == "t" && sp.Partition == 1:
			if !errors.Is(errs[i], ErrExists) || logs[i] != nil {
				t.Fatalf("existing log: %v, %v", logs[i], errs[i])
			}
		default:
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if l, ok := m.Get(sp.Topic, sp.Partition); !ok || l != logs[i] || l.Topic() != sp.Topic || l.Partition() != sp.Partition {
				t.Fatalf("%d: Get %v %v, CreateMany %v", i, l, ok, logs[i])
			}
		}
	}
	if _, errs := m.CreateMany([]NewLog{{"u", 0, cfg}}); !errors.Is(errs[0], ErrExists) {
		t.Fatalf("again: %v", errs[0])
	}
	res, err := logs[3].Append(valueBatch(1, 2, 10, "x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := logs[3].WaitDurable(context.Background(), res.LastOffset); err != nil {
		t.Fatal(err)
	}

	crashed := mem.CrashClone()
	m2, err := NewManager(crashed, "/data", testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if err := m2.Load(func(string, int32) Config { return cfg }); err != nil {
		t.Fatal(err)
	}
	if n := len(m2.Logs()); n != 4 {
		t.Fatalf("%d logs after the crash, want 4", n)
	}
	if l, _ := m2.Get("u", 0); l.LogEndOffset() != 2 {
		t.Fatalf("u-0 after the crash: log end %d, want 2", l.LogEndOffset())
	}
}

// TestCreateManyAfterClose: a closed Manager creates nothing.
func TestCreateManyAfterClose(t *testing.T) {
	m, err := NewManager(vfs.NewMem(), "/data", testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	logs, errs := m.CreateMany([]NewLog{{"t", 0, smallConfig()}})
	if logs[0] != nil || !errors.Is(errs[0], ErrClosed) {
		t.Fatalf("%v %v", logs[0], errs[0])
	}
}
