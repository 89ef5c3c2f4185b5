package streams

import (
	"bytes"
	"math/rand/v2"
	"sync"
)

// bytesStore is the byte-level store under every typed store. Keys are
// ordered bytewise. Implementations are safe for concurrent use: the stream
// thread writes while interactive queries read.
type bytesStore interface {
	Get(k []byte) ([]byte, error)
	// Put stores v under k; a nil v deletes k.
	Put(k, v []byte) error
	// Range calls fn for each key in [from, to) in order until fn returns
	// false; a nil bound is open.
	Range(from, to []byte, fn func(k, v []byte) bool) error
	Flush() error
	Close() error
}

// memStore is an ordered in-memory store: a skip list guarded by an
// RWMutex. Values handed out by Get and Range must not be modified.
type memStore struct {
	mu   sync.RWMutex
	head *slNode
	lvl  int
	rng  *rand.Rand
	n    int
}

const slMaxLevel = 24

type slNode struct {
	k, v []byte
	next [slMaxLevel]*slNode
}

func newMemStore() *memStore {
	return &memStore{head: &slNode{}, lvl: 1, rng: rand.New(rand.NewPCG(1, 2))}
}

// seek fills prev with the last node before k on each level and returns
// the first node >= k. s.mu must be held.
func (s *memStore) seekLocked(k []byte, prev *[slMaxLevel]*slNode) *slNode {
	x := s.head
	for i := s.lvl - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].k, k) < 0 {
			x = x.next[i]
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

func (s *memStore) Get(k []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x := s.seekLocked(k, nil)
	if x != nil && bytes.Equal(x.k, k) {
		return x.v, nil
	}
	return nil, nil
}

func (s *memStore) Put(k, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev [slMaxLevel]*slNode
	x := s.seekLocked(k, &prev)
	if x != nil && bytes.Equal(x.k, k) {
		if v != nil {
			x.v = append([]byte(nil), v...) // a new slice: readers may hold the old one
			return nil
		}
		for i := 0; i < s.lvl; i++ {
			if prev[i].next[i] == x {
				prev[i].next[i] = x.next[i]
			}
		}
		s.n--
		return nil
	}
	if v == nil {
		return nil
	}
	lvl := 1
	for lvl < slMaxLevel && s.rng.Uint32()&3 == 0 {
		lvl++
	}
	if lvl > s.lvl {
		for i := s.lvl; i < lvl; i++ {
			prev[i] = s.head
		}
		s.lvl = lvl
	}
	nn := &slNode{k: append([]byte(nil), k...), v: append([]byte(nil), v...)}
	for i := 0; i < lvl; i++ {
		nn.next[i] = prev[i].next[i]
		prev[i].next[i] = nn
	}
	s.n++
	return nil
}

func (s *memStore) Range(from, to []byte, fn func(k, v []byte) bool) error {
	// Collect under the lock and call fn outside it, so fn may write to
	// the store. Keys and values are never modified in place.
	var kvs [][2][]byte
	s.mu.RLock()
	var x *slNode
	if from == nil {
		x = s.head.next[0]
	} else {
		x = s.seekLocked(from, nil)
	}
	for ; x != nil; x = x.next[0] {
		if to != nil && bytes.Compare(x.k, to) >= 0 {
			break
		}
		kvs = append(kvs, [2][]byte{x.k, x.v})
	}
	s.mu.RUnlock()
	for _, kv := range kvs {
		if !fn(kv[0], kv[1]) {
			return nil
		}
	}
	return nil
}

func (s *memStore) Flush() error { return nil }
func (s *memStore) Close() error { return nil }

// loggedStore writes every change to the store's changelog partition
// before applying it locally, so the changelog is always at least as new
// as the local state.
type loggedStore struct {
	bytesStore
	log func(k, v []byte) error
}

func (s *loggedStore) Put(k, v []byte) error {
	if err := s.log(k, v); err != nil {
		return err
	}
	return s.bytesStore.Put(k, v)
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
