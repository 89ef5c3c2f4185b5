package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/kavka-io/kavka/internal/vfs"
)

// Probing a failed log directory (docs/adr/0006-log-dir-failure.md): the
// server (internal/server/logdir.go) and the cluster simulation
// (internal/sim) both decide with ProbeDir whether the directory may be
// trusted again.

const (
	// ProbeFileName is the file ProbeDir creates, and removes, in the
	// directory.
	ProbeFileName = ".kavka-log-dir-probe"
	// probeReadBytes is how much of a segment whose read failed each probe
	// reads again, from the byte where the failed read began.
	probeReadBytes = 1 << 20
)

// ProbeDir checks what the logs need of dir: it creates a file in dir,
// writes and fsyncs a page, reads it back, removes the file and fsyncs
// dir; then it reads again, from each failed read in reads, up to 1 MiB of
// that segment. A disk that fails reads of old data may still take new
// writes and serve them from the page cache, so only the failed bytes
// themselves show that the logs can be recovered: a new process reads them
// when it loads the logs, or on its first fetch. A segment that is gone
// (deleted by retention) needs no read.
func ProbeDir(fsys vfs.FS, dir string, reads []ReadError) error {
	name := fsys.PathJoin(dir, ProbeFileName)
	f, err := fsys.Create(name)
	if err != nil {
		return fmt.Errorf("create probe: %w", err)
	}
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i*7 + 1)
	}
	_, werr := f.Write(page)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		fsys.Remove(name)
		return fmt.Errorf("write probe: %w", err)
	}
	rerr := readBack(fsys, name, page)
	if err := fsys.Remove(name); err != nil {
		return errors.Join(rerr, fmt.Errorf("remove probe: %w", err))
	}
	if rerr != nil {
		return rerr
	}
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	for _, re := range reads {
		if err := probeRead(fsys, re); err != nil {
			return err
		}
	}
	return nil
}

// FailedRead returns the failed read err names, for ProbeDir to repeat: a
// *ReadError (a log that went offline), or an *fs.PathError of a read (a
// load of the logs that failed).
func FailedRead(err error) (ReadError, bool) {
	if re := (*ReadError)(nil); errors.As(err, &re) {
		return *re, true
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Op == "read" {
		return ReadError{Path: pe.Path, Err: pe.Err}, true
	}
	return ReadError{}, false
}

// readBack reads the probe file name and checks that it holds want.
func readBack(fsys vfs.FS, name string, want []byte) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("open probe: %w", err)
	}
	defer f.Close()
	got := make([]byte, len(want))
	if n, err := f.ReadAt(got, 0); n < len(want) {
		return fmt.Errorf("read probe: %d of %d bytes: %w", n, len(want), err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("read probe: the bytes read back differ from those written")
	}
	return nil
}

// probeRead reads again up to probeReadBytes of the file of re, from re.Off
// (from the last probeReadBytes when the file is shorter now).
func probeRead(fsys vfs.FS, re ReadError) error {
	f, err := fsys.Open(re.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s again: %w", re.Path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("size of %s: %w", re.Path, err)
	}
	off := re.Off
	if off+probeReadBytes > size {
		off = max(0, min(off, size-probeReadBytes))
	}
	n := min(size-off, probeReadBytes)
	if n <= 0 {
		return nil
	}
	if got, err := f.ReadAt(make([]byte, n), off); int64(got) < n {
		return fmt.Errorf("read %s again at byte %d: %w", re.Path, off, err)
	}
	return nil
}
