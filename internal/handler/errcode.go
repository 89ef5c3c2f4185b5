package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/coordinator"
	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/replica"
	"github.com/kavka-io/kavka/internal/txn"
)

// errUnknownPartition is returned by lookups when this broker has no log
// for a partition.
var errUnknownPartition = errors.New("handler: unknown topic or partition")

// errorCodes maps the sentinel errors of every subsystem to Kafka's error
// codes, in the order errorCode tries them: an error that wraps two
// sentinels gets the code of the first. The order matters in two places:
//   - The coordinators' errors come first. A coordinator whose write fails
//     wraps NOT_COORDINATOR around the log's own error (a replica's
//     NOT_LEADER_OR_FOLLOWER, a closed log, a timeout), and a failed load
//     wraps COORDINATOR_NOT_AVAILABLE around the reason: the client must
//     look for the coordinator again, as Kafka's coordinators answer.
//   - The transaction coordinator's errors come before the commit log's
//     producer-state errors: a produce that fails KIP-890 verification
//     wraps INVALID_TXN_STATE around the coordinator's answer.
var errorCodes = []struct {
	err  error
	code *kerr.Error
}{
	{coordinator.ErrNotCoordinator, kerr.NotCoordinator},
	{coordinator.ErrNotAvailable, kerr.CoordinatorNotAvailable},
	{errNoGroups, kerr.CoordinatorNotAvailable},
	{errNoTxn, kerr.CoordinatorNotAvailable},

	{group.ErrUnknownMember, kerr.UnknownMemberID},
	{group.ErrIllegalGeneration, kerr.IllegalGeneration},
	{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrFencedInstanceID, kerr.FencedInstanceID},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrGroupMaxSize, kerr.GroupMaxSizeReached},
	{group.ErrInvalidGroupID, kerr.InvalidGroupID},
	{group.ErrGroupNotFound, kerr.GroupIDNotFound},
	{group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
	{group.ErrSubscribedToTopic, kerr.GroupSubscribedToTopic},
	{group.ErrMetadataTooLarge, kerr.OffsetMetadataTooLarge},
	{group.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{group.ErrRequestTimedOut, kerr.RequestTimedOut},
	{group.ErrInvalidRequest, kerr.InvalidRequest},
	{group.ErrUnsupportedVersion, kerr.UnsupportedVersion},
	{group.ErrUnsupportedAssignor, kerr.UnsupportedAssignor},
	{group.ErrFencedMemberEpoch, kerr.FencedMemberEpoch},
	{group.ErrStaleMemberEpoch, kerr.StaleMemberEpoch},
	{group.ErrUnreleasedInstanceID, kerr.UnreleasedInstanceID},
	{group.ErrInvalidRegex, kerr.InvalidRegularExpression},

	{metadata.ErrNotController, kerr.NotController},
	{metadata.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{metadata.ErrStalePartitionState, kerr.InvalidUpdateVersion},
	{metadata.ErrIneligibleReplica, kerr.IneligibleReplica},
	{metadata.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{metadata.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{metadata.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition}, // UNKNOWN_TOPIC_ID by id: topicErrorCode
	{metadata.ErrNoReassignment, kerr.NoReassignmentInProgress},
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{metadata.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{metadata.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{metadata.ErrInvalidConfig, kerr.InvalidConfig},
	{metadata.ErrInvalidRequest, kerr.InvalidRequest},
	{metadata.ErrPolicyViolation, kerr.PolicyViolation},
	{errTopicDeletionDisabled, kerr.TopicDeletionDisabled},

	{errUnknownPartition, kerr.UnknownTopicOrPartition},
	{replica.ErrNotLeader, kerr.NotLeaderForPartition},
	{replica.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{replica.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{replica.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{replica.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{record.ErrCorrupt, kerr.CorruptMessage},
	{record.ErrTruncated, kerr.CorruptMessage},
	{record.ErrTooLarge, kerr.MessageTooLarge},
	{record.ErrInvalid, kerr.InvalidRecord},
	{record.ErrUnsupportedCodec, kerr.UnsupportedCompressionType},
	{record.ErrMagic, kerr.UnsupportedForMessageFormat},
	{record.ErrTimestamp, kerr.InvalidTimestamp},
	{commitlog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{commitlog.ErrLogOffline, kerr.KafkaStorageError},
	{commitlog.ErrClosed, kerr.KafkaStorageError},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},

	{txn.ErrInvalidTimeout, kerr.InvalidTransactionTimeout},
	{txn.ErrConcurrentTransactions, kerr.ConcurrentTransactions},
	{txn.ErrProducerFenced, kerr.ProducerFenced},
	{txn.ErrInvalidMapping, kerr.InvalidProducerIDMapping},
	{txn.ErrInvalidTxnState, kerr.InvalidTxnState},
	{txn.ErrInvalidRequest, kerr.InvalidRequest},
	{commitlog.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{commitlog.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{commitlog.ErrInvalidTxnState, kerr.InvalidTxnState},
	{commitlog.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
}

// errorCode maps an error from a subsystem to Kafka's error code. It is the
// only place that does (STYLE C3): subsystems return their sentinel errors,
// wrapped with context. UnknownServerError means the caller should log err
// once with the request's context.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	var ce *config.ConfigError
	if errors.As(err, &ce) {
		return kerr.InvalidConfig.Code
	}
	return kerr.UnknownServerError.Code
}

// topicErrorCode is errorCode for a request that names topics by id
// (byID), where an unknown topic is UNKNOWN_TOPIC_ID.
func topicErrorCode(err error, byID bool) int16 {
	if byID && errors.Is(err, metadata.ErrUnknownTopic) {
		return kerr.UnknownTopicID.Code
	}
	return errorCode(err)
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
