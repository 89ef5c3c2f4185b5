package handler

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func key(topic string, p int32) sessionKey { return sessionKey{topic: topic, partition: p} }

func reqsFor(offset int64, keys ...sessionKey) []sessionRequest {
	out := make([]sessionRequest, 0, len(keys))
	for _, k := range keys {
		out = append(out, sessionRequest{key: k, fetchOffset: offset, maxBytes: 1 << 20, currentEpoch: -1})
	}
	return out
}

func partKeys(parts []*sessionPart) []sessionKey {
	out := make([]sessionKey, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.key)
	}
	return out
}

// TestFetchSessionLifecycle walks one client through KIP-227: a full fetch
// creates the session, incremental fetches add, update and forget
// partitions, epochs must follow, and epoch -1 closes it.
func TestFetchSessionLifecycle(t *testing.T) {
	c := newFetchSessions(0)
	now := time.Unix(1000, 0)
	a0, a1, b0 := key("a", 0), key("a", 1), key("b", 0)
	var id int32
	f := func(name string, sid, epoch int32, reqs []sessionRequest, forgotten []sessionKey, wantCode int16, wantIncremental bool, wantParts []sessionKey) *fetchSession {
		t.Helper()
		parts, s, inc, code := c.begin(now, sid, epoch, reqs, forgotten)
		if code != wantCode {
			t.Fatalf("%s: code %d, want %d", name, code, wantCode)
		}
		if code != 0 {
			if s != nil || parts != nil {
				t.Fatalf("%s: error with a session or partitions", name)
			}
			return nil
		}
		if inc != wantIncremental {
			t.Errorf("%s: incremental %v, want %v", name, inc, wantIncremental)
		}
		if got := partKeys(parts); !slices.Equal(got, wantParts) {
			t.Errorf("%s: partitions %v, want %v", name, got, wantParts)
		}
		return s
	}

	// Sessionless fetch: no session, nothing cached.
	if s := f("sessionless", 0, sessionEpochFinal, reqsFor(0, a0), nil, 0, false, []sessionKey{a0}); s != nil || len(c.sessions) != 0 {
		t.Fatalf("sessionless fetch created a session")
	}
	// Full fetch at epoch 0: a new session, whose next epoch is 1.
	s := f("full", 0, sessionEpochInitial, reqsFor(5, a0, a1), nil, 0, false, []sessionKey{a0, a1})
	if s == nil || s.id <= 0 || s.epoch != 1 {
		t.Fatalf("full fetch: session %+v", s)
	}
	id = s.id
	// A second fetch while the first runs is rejected (one fetch per session).
	f("concurrent", id, 1, nil, nil, kerr.InvalidFetchSessionEpoch.Code, false, nil)
	c.end(s, []*sessionPart{{key: a0, hw: 10, lso: 10, logStart: 0}, {key: a1, hw: 3, lso: 3, logStart: 0}})
	if got := s.index[a0]; got.hw != 10 || got.lso != 10 || got.logStart != 0 {
		t.Errorf("end did not record what was sent: %+v", got)
	}

	f("epoch too old", id, 0+sessionEpochInitial, reqsFor(0, a0), nil, 0, false, []sessionKey{a0}) // epoch 0 = a new session
	if _, ok := c.sessions[id]; ok {
		t.Fatalf("epoch 0 with a session id must close that session")
	}
	s = f("full again", 0, sessionEpochInitial, reqsFor(5, a0, a1), nil, 0, false, []sessionKey{a0, a1})
	id = s.id
	c.end(s, nil)
	f("wrong epoch", id, 2, nil, nil, kerr.InvalidFetchSessionEpoch.Code, false, nil)
	f("unknown id", id+100, 1, nil, nil, kerr.FetchSessionIDNotFound.Code, false, nil)

	// Incremental: an empty request fetches every session partition, with
	// the offsets remembered.
	s = f("incremental, no change", id, 1, nil, nil, 0, true, []sessionKey{a0, a1})
	c.end(s, nil)
	// Adding b0 and moving a1's offset; the session keeps a0.
	s = f("add and update", id, 2, reqsFor(7, a1, b0), nil, 0, true, []sessionKey{a0, a1, b0})
	if p := s.index[a1]; p.fetchOffset != 7 {
		t.Errorf("a1 fetch offset %d, want 7", p.fetchOffset)
	}
	c.end(s, nil)
	// Forgetting a0 (and a partition it never had).
	s = f("forget", id, 3, nil, []sessionKey{a0, key("zz", 9)}, 0, true, []sessionKey{a1, b0})
	c.end(s, nil)
	// A partition both sent and forgotten is forgotten (updates first, as Kafka).
	s = f("send and forget", id, 4, reqsFor(1, a0), []sessionKey{a0}, 0, true, []sessionKey{a1, b0})
	c.end(s, nil)
	// The same epoch twice: the retry of a request whose answer was lost.
	f("replayed epoch", id, 4, nil, nil, kerr.InvalidFetchSessionEpoch.Code, false, nil)
	// Epoch -1 with the id closes the session and fetches sessionless.
	if s := f("close", id, sessionEpochFinal, reqsFor(0, a0), nil, 0, false, []sessionKey{a0}); s != nil {
		t.Fatalf("close returned a session")
	}
	f("after close", id, 5, nil, nil, kerr.FetchSessionIDNotFound.Code, false, nil)
}

// TestFetchSessionCacheLimit: a full cache evicts the least recently used
// idle session; a cache of busy sessions makes new fetches sessionless.
func TestFetchSessionCacheLimit(t *testing.T) {
	c := newFetchSessions(2)
	t0 := time.Unix(1000, 0)
	open := func(at time.Duration) *fetchSession {
		t.Helper()
		_, s, _, code := c.begin(t0.Add(at), 0, sessionEpochInitial, reqsFor(0, key("a", 0)), nil)
		if code != 0 {
			t.Fatalf("open: code %d", code)
		}
		return s
	}
	s1 := open(0)
	c.end(s1, nil)
	s2 := open(time.Second)
	c.end(s2, nil)
	// s1 is used again, so s2 is now the least recently used.
	_, s, _, _ := c.begin(t0.Add(2*time.Second), s1.id, 1, nil, nil)
	c.end(s, nil)
	s3 := open(3 * time.Second)
	if s3 == nil {
		t.Fatal("no session although an idle one could be evicted")
	}
	if _, _, _, code := c.begin(t0, s2.id, 1, nil, nil); code != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("evicted session: code %d, want FETCH_SESSION_ID_NOT_FOUND", code)
	}
	if _, _, _, code := c.begin(t0, s1.id, 2, nil, nil); code != 0 {
		t.Errorf("recently used session evicted: code %d", code)
	}
	// Now s1 and s3 are both busy: a new full fetch works without a session.
	parts, s4, _, code := c.begin(t0.Add(4*time.Second), 0, sessionEpochInitial, reqsFor(0, key("b", 0)), nil)
	if code != 0 || s4 != nil || len(parts) != 1 {
		t.Errorf("full cache of busy sessions: session %v code %d parts %d, want sessionless", s4, code, len(parts))
	}
	if len(c.sessions) != 2 {
		t.Errorf("%d sessions cached, want the limit 2", len(c.sessions))
	}
}

func TestFetchSessionIDsAndEpochs(t *testing.T) {
	if got := nextEpoch(1<<31 - 1); got != 1 {
		t.Errorf("nextEpoch(max) = %d, want 1 (0 and -1 have meanings)", got)
	}
	c := newFetchSessions(3)
	c.next = 1<<31 - 1 // ids wrap to 1, skipping taken ones
	seen := map[int32]bool{}
	for range 3 {
		_, s, _, _ := c.begin(time.Unix(0, 0), 0, sessionEpochInitial, nil, nil)
		if s == nil || s.id <= 0 || seen[s.id] {
			t.Fatalf("session id %v: not positive or reused", s)
		}
		seen[s.id] = true
		c.end(s, nil)
	}
}
