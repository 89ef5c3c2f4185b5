package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/replica"
)

// errUnknownPartition is returned by lookups when this broker has no log
// for a partition.
var errUnknownPartition = errors.New("handler: unknown topic or partition")

// errorCode maps an error from a subsystem to Kafka's error code. It is the
// only place that does (STYLE C3). UnknownServerError means the caller should
// log err once with the request's context.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, replica.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, replica.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, replica.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
		return kerr.CorruptMessage.Code
	case errors.Is(err, record.ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, record.ErrInvalid):
		return kerr.InvalidRecord.Code
	case errors.Is(err, record.ErrUnsupportedCodec):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, record.ErrMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, record.ErrTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, commitlog.ErrLogOffline), errors.Is(err, commitlog.ErrClosed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	default:
		if code, ok := txnErrorCode(err); ok {
			return code
		}
		return kerr.UnknownServerError.Code
	}
}

// errorMessage returns err's text for the responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// isUnexpected reports whether code means a bug or an I/O failure, which
// the handler logs once with the request's context.
func isUnexpected(code int16) bool {
	return code == kerr.UnknownServerError.Code || code == kerr.KafkaStorageError.Code
}
