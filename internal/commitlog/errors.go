package commitlog

import (
	"errors"
	"fmt"
)

// Errors returned by a Log. Validation errors from internal/record
// (record.ErrCorrupt, record.ErrTooLarge, …) are passed through wrapped, so
// errors.Is works on them too.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or above
	// the log end offset (Kafka OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")
	// ErrLogOffline: an I/O error (ENOSPC, EIO, a failed fsync) or a
	// corrupt batch (ErrCorruptLog) took the log offline; it refuses appends
	// until reopened (Kafka KAFKA_STORAGE_ERROR).
	ErrLogOffline = errors.New("commitlog: log offline after I/O error")
	// ErrCorruptLog: a batch already in the log failed its CRC32C or header
	// check when read or scrubbed (scrub.go). It comes wrapped in
	// ErrLogOffline: the log serves nothing more until it is reopened.
	ErrCorruptLog = errors.New("commitlog: corrupt batch in log")
	// ErrClosed: the log or manager was closed.
	ErrClosed = errors.New("commitlog: closed")
	// ErrUnexpectedOffset: a replicated append does not start at or after the
	// log end offset, or its offsets go backwards.
	ErrUnexpectedOffset = errors.New("commitlog: unexpected append offset")
	// ErrInvalidConfig: a Config value is out of range.
	ErrInvalidConfig = errors.New("commitlog: invalid config")
	// ErrExists: Manager.Create found the log already present.
	ErrExists = errors.New("commitlog: log already exists")
)

// ReadError is an error of the file system (EIO) while reading a segment
// file: the file and the byte where the failed read began. It comes wrapped
// in ErrLogOffline and is what Options.OnOffline gets, so that a log
// directory probe can read those bytes again before the broker trusts the
// directory (docs/adr/0006-log-dir-failure.md, 2026-11-27): a failing disk
// may accept new writes, and read them back from the page cache, while
// reads of the old data still fail.
type ReadError struct {
	Path string // the segment's .log file
	Off  int64  // the first byte of the read that failed (0: not known)
	Err  error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("read %s at byte %d: %v", e.Path, e.Off, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }
