package commitlog

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// TestOnOffline: the first I/O error that takes a log offline is reported
// once, with that log and the error; later failures and other logs are not.
func TestOnOffline(t *testing.T) {
	var fail atomic.Bool
	fs := vfs.NewFaulty(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
		if op == vfs.OpWrite && fail.Load() && strings.Contains(path, "t-1") && strings.HasSuffix(path, ".log") {
			return vfs.Fault{Err: syscall.ENOSPC, Written: 3}
		}
		return vfs.Fault{}
	}))
	var mu sync.Mutex
	var got []string
	opts := testOpts(nil)
	opts.OnOffline = func(l *Log, err error) {
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("OnOffline error %v, want ENOSPC", err)
		}
		mu.Lock()
		got = append(got, l.Topic()+"-"+string(rune('0'+l.Partition())))
		mu.Unlock()
	}
	m, err := NewManager(fs, "/data", opts)
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
	fail.Store(true)
	for range 3 {
		if _, err := l1.Append(valueBatch(1, 1, 10, "b"), 0); !errors.Is(err, ErrLogOffline) {
			t.Fatalf("append with a failing write: %v, want ErrLogOffline", err)
		}
	}
	if _, err := l0.Append(valueBatch(1, 1, 10, "a"), 0); err != nil {
		t.Fatalf("other log: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "t-1" {
		t.Errorf("OnOffline calls %v, want [t-1]", got)
	}
}
