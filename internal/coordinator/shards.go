package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of a shard table. The handler maps them to Kafka's codes.
var (
	// ErrNotCoordinator: another broker leads the shard's partition, or the
	// shard was unloaded after a failed write (NOT_COORDINATOR); the client
	// finds the coordinator again.
	ErrNotCoordinator = errors.New("coordinator: not coordinator")
	// ErrNotAvailable: the shard's partition could not be opened or replayed
	// (COORDINATOR_NOT_AVAILABLE).
	ErrNotAvailable = errors.New("coordinator: coordinator not available")
)

// Shard is a coordinator's own state for one partition of its internal
// topic: its state machine, driven by a Shards table. A Shard embeds a Slot,
// whose lock guards both the Slot and the Shard's state; the table calls
// Load and Unload with that lock held.
type Shard interface {
	// Load opens the partition's log and rebuilds the state by replaying
	// it. On error the table calls Unload.
	Load(ctx context.Context) (Log, error)
	// Unload drops the state: after a failed write, or once the partition
	// moved to another broker. The next request loads it again.
	Unload()

	slot() *Slot // only by embedding Slot
}

// Slot is the part of a Shard the table owns: the partition, the lock and
// the log the shard was loaded from. Its lock guards the whole Shard.
type Slot struct {
	topic     string // set once by the table
	partition int32  // set once by the table
	owner     Shard  // the Shard embedding this Slot; set once by the table

	mu  sync.Mutex
	log Log // guarded by mu; nil while not loaded
}

func (s *Slot) slot() *Slot { return s }

// Partition returns the partition of the internal topic the shard holds.
func (s *Slot) Partition() int32 { return s.partition }

// Lock locks the shard.
func (s *Slot) Lock() { s.mu.Lock() }

// Unlock unlocks the shard.
func (s *Slot) Unlock() { s.mu.Unlock() }

// Log returns the log the shard was loaded from, nil while it is not
// loaded. The shard must be locked.
func (s *Slot) Log() Log { return s.log }

// LoadLocked makes sure the shard is loaded in the partition's current
// leadership: a shard whose log is no longer Current is unloaded and loaded
// again, which fails (wrapping ErrNotCoordinator) unless this broker leads
// the partition again. A failed load wraps ErrNotAvailable. The shard must
// be locked.
func (s *Slot) LoadLocked(ctx context.Context) error {
	if s.log != nil {
		if Current(s.log) == nil {
			return nil
		}
		s.UnloadLocked()
	}
	l, err := s.owner.Load(ctx)
	if err != nil {
		s.owner.Unload()
		return fmt.Errorf("load %s-%d: %w: %w", s.topic, s.partition, ErrNotAvailable, err)
	}
	s.log = l
	return nil
}

// UnloadLocked drops the shard's log and state. The shard must be locked.
func (s *Slot) UnloadLocked() {
	s.log = nil
	s.owner.Unload()
}

// Shards is a coordinator's shard table: one Shard per partition of its
// internal topic, made on first use and kept. A shard loads lazily, on the
// first request for one of its keys (or eagerly through Load when the
// broker becomes the partition's leader), and unloads when a write fails or
// the leadership it was loaded in is gone. Mirrors the shard bookkeeping of
// Kafka's CoordinatorRuntime (scheduleLoadOperation,
// scheduleUnloadOperation); each shard is guarded by its own lock rather
// than an event loop.
//
// Lock order: the table's lock is never held while a shard is locked or
// loaded.
type Shards[S Shard] struct {
	topic      string
	partitions int32
	newShard   func() S

	mu     sync.Mutex
	shards map[int32]S // guarded by mu
}

// NewShards returns the table of an internal topic with the given number of
// partitions. newShard makes an empty, unloaded shard.
func NewShards[S Shard](topic string, partitions int32, newShard func() S) *Shards[S] {
	if partitions <= 0 {
		panic(fmt.Sprintf("BUG: shard table of %s with %d partitions", topic, partitions))
	}
	return &Shards[S]{topic: topic, partitions: partitions, newShard: newShard, shards: make(map[int32]S)}
}

// PartitionFor returns the partition that owns key.
func (t *Shards[S]) PartitionFor(key string) int32 { return PartitionFor(key, t.partitions) }

// For returns the shard that owns key.
func (t *Shards[S]) For(key string) S { return t.Get(t.PartitionFor(key)) }

// Get returns the shard of partition p, making it if needed.
func (t *Shards[S]) Get(p int32) S {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.shards[p]
	if !ok {
		s = t.newShard()
		sl := s.slot()
		sl.topic, sl.partition, sl.owner = t.topic, p, s
		t.shards[p] = s
	}
	return s
}

// Load loads the shard of partition p (see Slot.LoadLocked).
func (t *Shards[S]) Load(ctx context.Context, p int32) error {
	s := t.Get(p).slot()
	s.Lock()
	defer s.Unlock()
	return s.LoadLocked(ctx)
}

// Loaded returns the shards loaded at the time of the call, by partition.
// A shard may unload as soon as it is returned: callers check again under
// its lock.
func (t *Shards[S]) Loaded() []S {
	t.mu.Lock()
	all := make([]S, 0, len(t.shards))
	for _, s := range t.shards {
		all = append(all, s)
	}
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b S) int { return int(a.slot().partition - b.slot().partition) })
	return slices.DeleteFunc(all, func(s S) bool {
		sl := s.slot()
		sl.Lock()
		defer sl.Unlock()
		return sl.log == nil
	})
}

// Each loads every partition's shard in turn and calls fn with it, locked.
// A partition another broker leads (ErrNotCoordinator) is skipped; other
// load failures are skipped and returned, joined, so that a caller can
// answer with what it found and COORDINATOR_LOAD_IN_PROGRESS.
func (t *Shards[S]) Each(ctx context.Context, fn func(S)) error {
	var errs []error
	for p := range t.partitions {
		s := t.Get(p)
		sl := s.slot()
		sl.Lock()
		if err := sl.LoadLocked(ctx); err != nil {
			if !errors.Is(err, ErrNotCoordinator) {
				errs = append(errs, err)
			}
		} else {
			fn(s)
		}
		sl.Unlock()
	}
	return errors.Join(errs...)
}

// Every calls tick every interval until ctx is done: a coordinator's
// timeouts (sessions, rebalances, transactions) fire from it.
func Every(ctx context.Context, interval time.Duration, tick func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick(ctx)
		}
	}
}
