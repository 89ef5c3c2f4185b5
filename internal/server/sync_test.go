package server

import (
	"testing"

	"github.com/kavka-io/kavka/internal/metadata"
)

// TestSyncCoalescedRecreate: in cluster mode runSync may go from an image
// several changes back (images published while it created logs are
// coalesced). A topic deleted and created again in between (same name, a
// new id) must get a fresh log and replica, not keep the old topic's data.
func TestSyncCoalescedRecreate(t *testing.T) {
	r, _ := startBroker(t)
	s := r.Server
	create := func() [16]byte {
		tp, err := s.meta.CreateTopic(metadata.CreateTopicRequest{Name: "re", Partitions: 2, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		return tp.ID
	}
	oldID := create()
	l, ok := s.logs.Get("re", 0)
	if !ok {
		t.Fatal("no log for re-0")
	}
	res, err := l.Append(oneBatch(t, "old"), 0)
	if err != nil || res.LastOffset < 0 {
		t.Fatalf("append: %v", err)
	}

	// The subscriber misses the delete and the new create (as runSync
	// does while it is busy), then one sync covers both.
	s.stopped.Store(true)
	if err := s.meta.DeleteTopic("re"); err != nil {
		t.Fatal(err)
	}
	newID := create()
	s.stopped.Store(false)
	if newID == oldID {
		t.Fatal("same topic id")
	}
	s.syncTo(s.meta.Image(), false, 0)

	for p := range int32(2) {
		nl, ok := s.logs.Get("re", p)
		if !ok {
			t.Fatalf("no log for re-%d after the sync", p)
		}
		if nl.LogEndOffset() != 0 {
			t.Fatalf("re-%d: log end %d, want a fresh log", p, nl.LogEndOffset())
		}
		if s.replicas.Partition("re", p) == nil {
			t.Fatalf("re-%d: no replica", p)
		}
	}
	if nl, _ := s.logs.Get("re", 0); nl == l {
		t.Fatal("the old topic's log was kept")
	}
}
