package metadata

import (
	"errors"
	"fmt"
)

// Sentinel errors; the handler maps them to Kafka error codes. Errors returned
// by the Store wrap one of them in an *Error whose message is meant for the
// client (a CreateTopics error message, for instance).
var (
	ErrTopicExists              = errors.New("topic already exists")              // TOPIC_ALREADY_EXISTS
	ErrUnknownTopic             = errors.New("unknown topic")                     // UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID
	ErrInvalidTopic             = errors.New("invalid topic")                     // INVALID_TOPIC_EXCEPTION
	ErrInvalidPartitions        = errors.New("invalid partitions")                // INVALID_PARTITIONS
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")        // INVALID_REPLICATION_FACTOR
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")        // INVALID_REPLICA_ASSIGNMENT
	ErrInvalidConfig            = errors.New("invalid config")                    // INVALID_CONFIG
	ErrInvalidRequest           = errors.New("invalid request")                   // INVALID_REQUEST
	ErrPolicyViolation          = errors.New("policy violation")                  // POLICY_VIOLATION
	ErrNoReassignment           = errors.New("no reassignment in progress")       // NO_REASSIGNMENT_IN_PROGRESS
	ErrClosed                   = errors.New("metadata: store closed")            // a bug in the caller or shutdown
	ErrInconsistentClusterID    = errors.New("metadata: inconsistent cluster id") // meta.properties disagrees
)

// Error is a Store error with a message for the client. errors.Is(err, Kind)
// holds.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func newErr(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
