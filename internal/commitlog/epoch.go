package commitlog

import (
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/kavka-io/kavka/internal/vfs"
)

const epochCheckpointName = "leader-epoch-checkpoint"

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// EpochCache maps leader epochs to their start offsets (KIP-101, KIP-279),
// persisted beside the log in Kafka's leader-epoch-checkpoint format and
// rebuilt from the batches' partition leader epochs when that file is lost.
// Mirrors kafka.server.epoch.LeaderEpochFileCache. It is safe for concurrent
// use.
type EpochCache struct {
	fs   vfs.FS
	path string
	leo  func() int64 // the log end offset, for EndOffsetFor; must not take mu

	mu      sync.Mutex
	entries []EpochEntry // guarded by mu; epochs and offsets increasing
}

func newEpochCache(fs vfs.FS, dir string, leo func() int64) *EpochCache {
	return &EpochCache{fs: fs, path: fs.PathJoin(dir, epochCheckpointName), leo: leo}
}

// load reads the checkpoint file; it reports false when the file is missing
// or corrupt (the caller rebuilds from the log).
func (c *EpochCache) load() bool {
	data, err := readWholeFile(c.fs, c.path)
	if err != nil {
		return false
	}
	rows, err := decodeCheckpoint(data, 2)
	if err != nil {
		return false
	}
	entries := make([]EpochEntry, 0, len(rows))
	for _, r := range rows {
		e, err1 := strconv.ParseInt(r[0], 10, 32)
		o, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return false
		}
		if n := len(entries); n > 0 && (int32(e) <= entries[n-1].Epoch || o < entries[n-1].StartOffset) {
			return false
		}
		entries = append(entries, EpochEntry{int32(e), o})
	}
	c.mu.Lock()
	c.entries = entries
	c.mu.Unlock()
	return true
}

// flushLocked persists the cache. c.mu must be held.
func (c *EpochCache) flushLocked() error {
	rows := make([][]string, len(c.entries))
	for i, e := range c.entries {
		rows[i] = []string{strconv.Itoa(int(e.Epoch)), strconv.FormatInt(e.StartOffset, 10)}
	}
	if err := writeFileAtomic(c.fs, c.path, encodeCheckpoint(rows), true); err != nil {
		return fmt.Errorf("write leader epoch checkpoint: %w", err)
	}
	return nil
}

// Assign records that epoch starts at startOffset, if epoch is newer than
// the latest entry, and persists the cache. Entries that conflict with it
// (an older epoch starting at or after startOffset) are dropped, as in
// Kafka. An older or equal epoch is ignored.
func (c *EpochCache) Assign(epoch int32, startOffset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.assignLocked(epoch, startOffset) {
		return nil
	}
	return c.flushLocked()
}

// assignLocked changes the cache in memory and reports whether it changed.
// c.mu must be held.
func (c *EpochCache) assignLocked(epoch int32, startOffset int64) bool {
	if epoch < 0 || startOffset < 0 {
		return false
	}
	if n := len(c.entries); n > 0 && c.entries[n-1].Epoch >= epoch {
		return false
	}
	for n := len(c.entries); n > 0 && c.entries[n-1].StartOffset >= startOffset; n-- {
		c.entries = c.entries[:n-1]
	}
	c.entries = append(c.entries, EpochEntry{epoch, startOffset})
	return true
}

// Latest returns the newest epoch and its start offset; ok is false when the
// cache is empty.
func (c *EpochCache) Latest() (epoch int32, startOffset int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 {
		return c.entries[n-1].Epoch, c.entries[n-1].StartOffset, true
	}
	return -1, -1, false
}

// Entries returns a copy of the cache.
func (c *EpochCache) Entries() []EpochEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]EpochEntry(nil), c.entries...)
}

// EndOffsetFor answers OffsetForLeaderEpoch (KIP-101/279): the largest epoch
// <= requested and the offset where the next epoch starts (the log end
// offset for the latest epoch). (-1, -1) means the requested epoch is
// unknown (newer than the latest, or the cache is empty). Mirrors
// LeaderEpochFileCache.endOffsetFor.
func (c *EpochCache) EndOffsetFor(requested int32) (epoch int32, endOffset int64) {
	leo := c.leo()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	if requested < 0 || n == 0 {
		return -1, -1
	}
	if c.entries[n-1].Epoch == requested {
		return requested, leo
	}
	hi := sort.Search(n, func(i int) bool { return c.entries[i].Epoch > requested })
	if hi == n {
		return -1, -1
	}
	if hi == 0 {
		return requested, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}

// truncateFromEnd drops entries starting at or after offset (log truncated
// to offset). It reports whether anything changed. c.mu must not be held.
func (c *EpochCache) truncateFromEnd(offset int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].StartOffset >= offset {
		c.entries = c.entries[:len(c.entries)-1]
	}
	if len(c.entries) == n {
		return false, nil
	}
	return true, c.flushLocked()
}

// truncateFromStart moves the start of the cache to offset (log start
// offset raised): entries wholly below it go, the one covering it starts at
// offset.
func (c *EpochCache) truncateFromStart(offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > offset })
	if i == 0 {
		return nil
	}
	if i == 1 && c.entries[0].StartOffset == offset {
		return nil
	}
	e := c.entries[i-1]
	e.StartOffset = offset
	c.entries = append([]EpochEntry{e}, c.entries[i:]...)
	return c.flushLocked()
}

// reset replaces the whole cache (rebuilt from the log) and persists it.
func (c *EpochCache) reset(entries []EpochEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = entries
	return c.flushLocked()
}
