package vfs

import (
	"io"
	"os"
)

// File is an open file. Writes go to the end of what was written before
// (files are opened for appending or freshly created); reads use ReadAt so
// that many readers can share one handle.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer

	// Sync makes everything written so far durable.
	Sync() error
	// Truncate changes the size of the file. The next Write goes to the new end.
	Truncate(size int64) error
	// Size returns the current size of the file in bytes.
	Size() (int64, error)
	// Fd returns the operating-system file descriptor, or ^uintptr(0) if the
	// file has none (in-memory files). Callers use it for sendfile(2).
	Fd() uintptr
}

// FS is a file system. Paths use the operating system's separator; join them
// with PathJoin.
type FS interface {
	// Create creates or truncates the named file for writing.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for reading and for writing at its end.
	OpenAppend(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenDir opens a directory so that it can be synced.
	OpenDir(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything below it.
	RemoveAll(name string) error
	// Rename atomically renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries of a directory, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file.
	Stat(name string) (os.FileInfo, error)
	// PathJoin joins path elements.
	PathJoin(elem ...string) string
}

// NoFd is what File.Fd returns for a file without an operating-system descriptor.
const NoFd = ^uintptr(0)
