package handler

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Fetch sessions (KIP-227): a client that fetches the same partitions again
// and again registers them once (epoch 0) and then sends only what changed
// (epoch 1, 2, …); the broker answers an incremental fetch with only the
// partitions that have news. Mirrors kafka.server.FetchSessionCache, with
// a bounded cache that evicts the least recently used session.

// Fetch session epochs with a meaning of their own.
const (
	sessionEpochInitial = 0  // create a session
	sessionEpochFinal   = -1 // no session / close the session
)

// defaultFetchSessions is max.incremental.fetch.session.cache.slots' default.
const defaultFetchSessions = 1000

// sessionKey names a partition in a session: by topic name before Fetch v13,
// by topic id from v13 on.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPart is what a session remembers of one partition: the client's
// last request and what the broker last told it.
type sessionPart struct {
	key          sessionKey
	fetchOffset  int64
	maxBytes     int32
	currentEpoch int32
	// Last sent: an incremental response omits a partition unless one of
	// these changed, it has records or an error.
	hw, lso, logStart int64
}

type fetchSession struct {
	id       int32
	epoch    int32 // the epoch the next request must carry
	parts    []*sessionPart
	index    map[sessionKey]*sessionPart
	lastUsed time.Time
	inUse    bool // a fetch is running on it; a concurrent one is rejected
}

// fetchSessions is the broker's session cache. Safe for concurrent use.
type fetchSessions struct {
	slots int // most sessions cached; immutable

	mu sync.Mutex
	// The fields below are guarded by mu.
	next     int32
	sessions map[int32]*fetchSession
}

// newFetchSessions returns a cache of at most slots sessions
// (max.incremental.fetch.session.cache.slots); 0 means Kafka's default.
func newFetchSessions(slots int) *fetchSessions {
	if slots <= 0 {
		slots = defaultFetchSessions
	}
	return &fetchSessions{slots: slots, next: 1, sessions: make(map[int32]*fetchSession)}
}

// sessionRequest is one fetch's partition, as sent.
type sessionRequest struct {
	key          sessionKey
	fetchOffset  int64
	maxBytes     int32
	currentEpoch int32
}

// begin resolves a fetch's session. It returns the partitions to fetch, the
// session to answer for (nil for a sessionless fetch), whether the response
// is incremental, and a top-level error code. A session returned must be
// given back with end.
func (c *fetchSessions) begin(now time.Time, id, epoch int32, reqs []sessionRequest, forgotten []sessionKey) (parts []*sessionPart, s *fetchSession, incremental bool, code int16) {
	fresh := func() []*sessionPart {
		out := make([]*sessionPart, 0, len(reqs))
		for _, r := range reqs {
			out = append(out, &sessionPart{key: r.key, fetchOffset: r.fetchOffset, maxBytes: r.maxBytes, currentEpoch: r.currentEpoch, hw: -1, lso: -1, logStart: -1})
		}
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case epoch == sessionEpochFinal:
		delete(c.sessions, id)
		return fresh(), nil, false, 0
	case epoch == sessionEpochInitial:
		delete(c.sessions, id)
		parts = fresh()
		s = c.createLocked(now, parts)
		if s == nil {
			return parts, nil, false, 0 // cache full of busy sessions: sessionless
		}
		s.inUse = true
		return parts, s, false, 0
	}
	s = c.sessions[id]
	switch {
	case s == nil:
		return nil, nil, false, kerr.FetchSessionIDNotFound.Code
	case s.epoch != epoch || s.inUse:
		return nil, nil, false, kerr.InvalidFetchSessionEpoch.Code
	}
	// Updates first, then removals, as kafka.server.FetchSession.update.
	for _, r := range reqs {
		p := s.index[r.key]
		if p == nil {
			p = &sessionPart{key: r.key, hw: -1, lso: -1, logStart: -1}
			s.index[r.key] = p
			s.parts = append(s.parts, p)
		}
		p.fetchOffset, p.maxBytes, p.currentEpoch = r.fetchOffset, r.maxBytes, r.currentEpoch
	}
	for _, k := range forgotten {
		if p := s.index[k]; p != nil {
			delete(s.index, k)
			for i, q := range s.parts {
				if q == p {
					s.parts = append(s.parts[:i], s.parts[i+1:]...)
					break
				}
			}
		}
	}
	s.epoch = nextEpoch(s.epoch)
	s.lastUsed = now
	s.inUse = true
	// Copy so that the fetch can read them without the lock.
	parts = make([]*sessionPart, len(s.parts))
	for i, p := range s.parts {
		cp := *p
		parts[i] = &cp
	}
	return parts, s, true, 0
}

// end records what was sent for the session's partitions and releases it.
func (c *fetchSessions) end(s *fetchSession, sent []*sessionPart) {
	if s == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range sent {
		if q := s.index[p.key]; q != nil {
			q.hw, q.lso, q.logStart = p.hw, p.lso, p.logStart
		}
	}
	s.inUse = false
}

// createLocked makes a session for parts, evicting the least recently used
// idle session when the cache is full. c.mu must be held.
func (c *fetchSessions) createLocked(now time.Time, parts []*sessionPart) *fetchSession {
	if len(c.sessions) >= c.slots {
		var lru *fetchSession
		for _, s := range c.sessions {
			if !s.inUse && (lru == nil || s.lastUsed.Before(lru.lastUsed)) {
				lru = s
			}
		}
		if lru == nil {
			return nil
		}
		delete(c.sessions, lru.id)
	}
	id := c.next
	for range c.slots + 1 { // bounded: at most that many ids are taken
		if _, taken := c.sessions[id]; !taken && id > 0 {
			break
		}
		id++
		if id <= 0 {
			id = 1
		}
	}
	c.next = id + 1
	if c.next <= 0 {
		c.next = 1
	}
	s := &fetchSession{id: id, epoch: 1, index: make(map[sessionKey]*sessionPart, len(parts)), lastUsed: now}
	for _, p := range parts {
		if s.index[p.key] == nil {
			cp := *p // the fetch works on parts without the lock
			s.index[p.key] = &cp
			s.parts = append(s.parts, &cp)
		}
	}
	c.sessions[id] = s
	return s
}

func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}
