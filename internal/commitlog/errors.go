package commitlog

import "errors"

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
