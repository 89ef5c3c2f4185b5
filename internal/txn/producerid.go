package txn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strconv"
	"sync"

	"github.com/kavka-io/kavka/internal/vfs"
)

// IDBlockSize is how many producer ids one durable reservation covers
// (Kafka's ProducerIdsBlock size, 1000).
const IDBlockSize = 1000

// FileIDs allocates producer ids from blocks reserved durably in a counter
// file: before an id of a new block is handed out, the file says the next
// block starts after it (tmp, fsync, rename, fsync dir). After a crash the
// unused rest of the block is skipped, so an id is never issued twice — the
// guarantee Kafka gets from AllocateProducerIds through the controller.
//
// File format: the next unreserved id in decimal and a newline.
type FileIDs struct {
	fs   vfs.FS
	path string

	mu   sync.Mutex
	next int64 // guarded by mu: next id to hand out
	end  int64 // guarded by mu: end of the reserved block (exclusive)
}

// OpenFileIDs opens (or starts) the counter file at path.
func OpenFileIDs(fsys vfs.FS, path string) (*FileIDs, error) {
	f := &FileIDs{fs: fsys, path: path}
	start, err := f.read()
	if err != nil {
		return nil, err
	}
	f.next, f.end = start, start
	return f, nil
}

func (f *FileIDs) read() (int64, error) {
	h, err := f.fs.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", f.path, err)
	}
	defer h.Close()
	var buf [32]byte
	n, err := h.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read %s: %w", f.path, err)
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(buf[:n])), 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("producer id file %s: bad content %q", f.path, buf[:n])
	}
	return v, nil
}

// Next returns a producer id never returned before, by this process or an
// earlier one on the same file.
func (f *FileIDs) Next() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next >= f.end {
		if f.end > math.MaxInt64-IDBlockSize {
			return 0, ErrProducerIDsExhausted
		}
		end := f.end + IDBlockSize
		if err := f.write(end); err != nil {
			return 0, err
		}
		f.next, f.end = f.end, end
	}
	id := f.next
	f.next++
	return id, nil
}

func (f *FileIDs) write(v int64) error {
	tmp := f.path + ".tmp"
	h, err := f.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := h.Write([]byte(strconv.FormatInt(v, 10) + "\n")); err != nil {
		h.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := h.Sync(); err != nil {
		h.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := f.fs.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	dir := "."
	if i := bytes.LastIndexByte([]byte(f.path), '/'); i > 0 {
		dir = f.path[:i]
	}
	d, err := f.fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
