package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// SourceOffset is one source partition's committed offset. A nil Offset
// deletes it (a tombstone, KIP-875).
type SourceOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// OffsetStore keeps source connectors' offsets. Keys are encoded as Kafka
// does, as the JSON array [connector, partition], so a store can be read by
// either side.
type OffsetStore interface {
	Get(ctx context.Context, connector string, partition map[string]any) (map[string]any, error)
	All(ctx context.Context, connector string) ([]SourceOffset, error)
	// Put writes offsets durably before it returns.
	Put(ctx context.Context, connector string, offsets []SourceOffset) error
}

// offsetKey encodes the key as Kafka's OffsetStorageWriter does:
// ["connector",{partition}] (encoding/json sorts map keys, so the encoding
// is canonical).
func offsetKey(connector string, partition map[string]any) (string, error) {
	b, err := json.Marshal([]any{connector, partition})
	if err != nil {
		return "", fmt.Errorf("encode source partition: %w", err)
	}
	return string(b), nil
}

func decodeOffsetKey(k string) (string, map[string]any, bool) {
	var arr []json.RawMessage
	if json.Unmarshal([]byte(k), &arr) != nil || len(arr) != 2 {
		return "", nil, false
	}
	var name string
	var part map[string]any
	if json.Unmarshal(arr[0], &name) != nil || json.Unmarshal(arr[1], &part) != nil {
		return "", nil, false
	}
	return name, part, true
}

// memOffsets is the map behind both stores: encoded key → JSON offset.
// mu guards m.
type memOffsets struct {
	mu sync.Mutex
	m  map[string]json.RawMessage
}

func (s *memOffsets) get(connector string, partition map[string]any) (map[string]any, error) {
	k, err := offsetKey(connector, partition)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	raw, ok := s.m[k]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var off map[string]any
	if err := json.Unmarshal(raw, &off); err != nil {
		return nil, fmt.Errorf("decode offset: %w", err)
	}
	return off, nil
}

func (s *memOffsets) all(connector string) []SourceOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SourceOffset
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name, part, ok := decodeOffsetKey(k)
		if !ok || name != connector {
			continue
		}
		var off map[string]any
		if json.Unmarshal(s.m[k], &off) == nil {
			out = append(out, SourceOffset{Partition: part, Offset: off})
		}
	}
	return out
}

// apply sets or deletes one encoded entry. s.mu must be held.
func (s *memOffsets) applyLocked(k string, v []byte) {
	if s.m == nil {
		s.m = map[string]json.RawMessage{}
	}
	if v == nil {
		delete(s.m, k)
	} else {
		s.m[k] = append(json.RawMessage(nil), v...)
	}
}

// FileOffsetStore is the standalone worker's store
// (offset.storage.file.filename): a JSON object of encoded key → offset,
// rewritten atomically (temp file, fsync, rename, fsync dir) on each Put.
type FileOffsetStore struct {
	path string
	mem  memOffsets
	wmu  sync.Mutex // serialises writers of the file
}

// OpenFileOffsetStore loads path if it exists.
func OpenFileOffsetStore(path string) (*FileOffsetStore, error) {
	s := &FileOffsetStore{path: path}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &s.mem.m); err != nil {
			return nil, fmt.Errorf("decode offsets file %s: %w", path, err)
		}
	}
	return s, nil
}

// Get implements OffsetStore.
func (s *FileOffsetStore) Get(_ context.Context, connector string, partition map[string]any) (map[string]any, error) {
	return s.mem.get(connector, partition)
}

// All implements OffsetStore.
func (s *FileOffsetStore) All(_ context.Context, connector string) ([]SourceOffset, error) {
	return s.mem.all(connector), nil
}

// Put implements OffsetStore.
func (s *FileOffsetStore) Put(_ context.Context, connector string, offsets []SourceOffset) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mem.mu.Lock()
	for _, o := range offsets {
		k, err := offsetKey(connector, o.Partition)
		if err != nil {
			s.mem.mu.Unlock()
			return err
		}
		var v []byte
		if o.Offset != nil {
			if v, err = json.Marshal(o.Offset); err != nil {
				s.mem.mu.Unlock()
				return fmt.Errorf("encode offset: %w", err)
			}
		}
		s.mem.applyLocked(k, v)
	}
	b, err := json.Marshal(s.mem.m)
	s.mem.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode offsets: %w", err)
	}
	return writeFileAtomic(s.path, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write offsets: %w", err)
	}
	tmp := f.Name()
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write offsets %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some file systems refuse directory fsync
		d.Close()
	}
	return nil
}

// MemOffsetStore keeps offsets in memory only (tests, examples).
type MemOffsetStore struct{ mem memOffsets }

// Get implements OffsetStore.
func (s *MemOffsetStore) Get(_ context.Context, connector string, partition map[string]any) (map[string]any, error) {
	return s.mem.get(connector, partition)
}

// All implements OffsetStore.
func (s *MemOffsetStore) All(_ context.Context, connector string) ([]SourceOffset, error) {
	return s.mem.all(connector), nil
}

// Put implements OffsetStore.
func (s *MemOffsetStore) Put(_ context.Context, connector string, offsets []SourceOffset) error {
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	for _, o := range offsets {
		k, err := offsetKey(connector, o.Partition)
		if err != nil {
			return err
		}
		var v []byte
		if o.Offset != nil {
			if v, err = json.Marshal(o.Offset); err != nil {
				return fmt.Errorf("encode offset: %w", err)
			}
		}
		s.mem.applyLocked(k, v)
	}
	return nil
}
