package connect

import (
	"context"
	"errors"
)

// Connector is the part of a connector that runs once per connector (not per
// task): it validates the configuration and splits the work into task
// configurations. Mirrors org.apache.kafka.connect.connector.Connector.
//
// The worker calls Start, then TaskConfigs, and Stop when the connector is
// paused, reconfigured or deleted. A Connector is used by one goroutine at a
// time.
type Connector interface {
	// Config describes the connector's own configuration keys; the worker
	// validates a configuration against it before Start and serves it on
	// /connector-plugins/{plugin}/config.
	Config() ConfigDef
	// Start receives the connector's configuration (all keys, including the
	// worker's common ones such as name and tasks.max).
	Start(ctx context.Context, cfg map[string]string) error
	// TaskConfigs returns at most maxTasks task configurations. Each task is
	// started with one of them.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	Stop(ctx context.Context) error
	Version() string
}

// SourceConnector is a Connector whose tasks read an external system.
type SourceConnector interface {
	Connector
	NewTask() SourceTask
}

// SinkConnector is a Connector whose tasks write to an external system.
type SinkConnector interface {
	Connector
	NewTask() SinkTask
}

// SourceTaskContext is what the worker offers a source task.
type SourceTaskContext interface {
	// Offset returns the last committed source offset for a source
	// partition, or nil if there is none.
	Offset(partition map[string]any) (map[string]any, error)
}

// SourceTask reads records from an external system. Mirrors
// org.apache.kafka.connect.source.SourceTask.
//
// The worker calls Start once, then Poll in a loop from one goroutine, and
// Stop from the same goroutine after the loop ends.
type SourceTask interface {
	Start(ctx context.Context, cfg map[string]string, tc SourceTaskContext) error
	// Poll returns the next records. It should block for a short while
	// (around a second at most) when nothing is ready and then return no
	// records, so the worker can commit offsets and notice a stop. It must
	// return when ctx is done.
	Poll(ctx context.Context) ([]Record, error)
	Stop(ctx context.Context) error
}

// SourceCommitter is an optional interface for source tasks: Commit is
// called after the offsets of every record returned by Poll so far have been
// written durably to the offset store, for example to acknowledge messages
// upstream or advance a replication slot.
type SourceCommitter interface {
	Commit(ctx context.Context) error
}

// SinkTaskContext is what the worker offers a sink task.
type SinkTaskContext interface {
	// Assignment returns the partitions the task currently owns.
	Assignment() []TopicPartition
}

// SinkTask writes records consumed from Kafka. Mirrors
// org.apache.kafka.connect.sink.SinkTask.
//
// The worker calls Start once, then Put and Flush from one goroutine, and
// Stop last. Put may buffer; Flush must make everything handed to Put so
// far durable, because the worker commits the consumer offsets right after
// it returns.
type SinkTask interface {
	Start(ctx context.Context, cfg map[string]string, tc SinkTaskContext) error
	// Put delivers records. Returning an error wrapped with Retriable asks
	// the worker to deliver the same records again after a backoff; any
	// other error fails the task (unless errors.tolerance=all).
	Put(ctx context.Context, records []Record) error
	// Flush receives, for each partition, the offset after the last record
	// handed to Put (the offset that will be committed).
	Flush(ctx context.Context, offsets map[TopicPartition]int64) error
	Stop(ctx context.Context) error
}

// PartitionAware is an optional interface for sink tasks told about
// rebalances: Open after partitions are assigned, Close before they are
// taken away (after the final Flush).
type PartitionAware interface {
	Open(ctx context.Context, partitions []TopicPartition) error
	Close(ctx context.Context, partitions []TopicPartition) error
}

// RetriableError marks a transient failure: the worker retries the
// operation with backoff (Kafka's RetriableException).
type RetriableError struct{ Err error }

func (e *RetriableError) Error() string { return "retriable: " + e.Err.Error() }
func (e *RetriableError) Unwrap() error { return e.Err }

// Retriable wraps err as a RetriableError. Retriable(nil) is nil.
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return &RetriableError{Err: err}
}

// IsRetriable reports whether err is, or wraps, a RetriableError.
func IsRetriable(err error) bool {
	var r *RetriableError
	return errors.As(err, &r)
}
