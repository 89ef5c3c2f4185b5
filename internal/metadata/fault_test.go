package metadata

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/internal/vfs"
)

// TestWriteFaults injects write, sync and truncate failures into the log:
// exactly the changes that were acknowledged survive a crash.
func TestWriteFaults(t *testing.T) {
	for seed := uint64(0); seed < 30; seed++ {
		mem := vfs.NewMem()
		rnd := vfs.NewRandomInjector(rand.New(rand.NewPCG(seed, 7)), 0.2, vfs.OpWrite, vfs.OpSync, vfs.OpTruncate)
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) vfs.Fault {
			if !strings.HasSuffix(path, "records.log") {
				return vfs.Fault{}
			}
			return rnd.Inject(op, path)
		})
		s, err := Open(vfs.NewFaulty(mem, inj), "/data", Options{Self: self, Rand: newRand(seed)})
		if err != nil {
			t.Fatalf("seed %d: open: %v", seed, err)
		}
		var acked []string
		for i := range 30 {
			name := fmt.Sprintf("t%02d", i)
			if _, err := s.CreateTopic(CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 1}, false); err == nil {
				acked = append(acked, name)
			}
			if got := s.Image().TopicNames(); !cmp.Equal(got, acked, cmpEmpty) {
				t.Fatalf("seed %d: image %v, acknowledged %v", seed, got, acked)
			}
		}
		s2, err := Open(mem.CrashClone(), "/data", Options{Self: self})
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		if got := s2.Image().TopicNames(); !cmp.Equal(got, acked, cmpEmpty) {
			t.Fatalf("seed %d: after crash %v, acknowledged %v", seed, got, acked)
		}
		s2.Close()
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal(a, b)
})

// TestConcurrentReadersAndWriters checks, under -race, that Image can be
// read while topics are created and deleted.
func TestConcurrentReadersAndWriters(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.CreateTopic(CreateTopicRequest{Name: name, Partitions: 2, ReplicationFactor: 1}, false); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := s.DeleteTopic(name); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				im := s.Image()
				n := 0
				for _, name := range im.TopicNames() {
					n += len(im.Topics[name].Partitions)
				}
				if n != im.NumPartitions() {
					t.Errorf("image counts %d partitions, topics hold %d", im.NumPartitions(), n)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(s.Image().Topics); n != 40 {
		t.Errorf("%d topics, want 40", n)
	}
}
