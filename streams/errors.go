package streams

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an Error.
type ErrorKind int

const (
	// ErrDeserialization: a consumed record's key, value or timestamp could
	// not be read.
	ErrDeserialization ErrorKind = iota + 1
	// ErrProcessing: a processor (user function, store, serde) failed.
	ErrProcessing
	// ErrProduction: a record could not be written to Kafka.
	ErrProduction
)

func (k ErrorKind) String() string {
	switch k {
	case ErrDeserialization:
		return "deserialization"
	case ErrProcessing:
		return "processing"
	case ErrProduction:
		return "production"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error describes a failure tied to one input record.
type Error struct {
	Kind      ErrorKind
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *Error) Error() string {
	if e.Topic == "" {
		return fmt.Sprintf("streams: %s error: %v", e.Kind, e.Err)
	}
	return fmt.Sprintf("streams: %s error at %s/%d@%d: %v", e.Kind, e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorAction is an error handler's decision.
type ErrorAction int

const (
	// Fail stops the application: Run returns the error. The default.
	Fail ErrorAction = iota
	// Skip drops the record and continues. For processing errors, state
	// changes the record made before failing are kept.
	Skip
)

// ErrorHandler decides what to do with a record-level error. It runs on
// the stream thread; it must not block for long.
type ErrorHandler func(e *Error) ErrorAction

func handle(h ErrorHandler, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	if h != nil && e.Kind != ErrProduction && h(e) == Skip {
		return nil
	}
	return err
}
