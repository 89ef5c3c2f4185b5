package handler

import (
	"context"
	"errors"
	"fmt"
	"testing"

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

// TestErrorCode: every sentinel error a subsystem returns maps to the Kafka
// code it stands for, also when wrapped with context; an error wrapping two
// sentinels gets the code a Kafka broker would answer.
func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		// Coordinators.
		{coordinator.ErrNotCoordinator, kerr.NotCoordinator},
		{coordinator.ErrNotAvailable, kerr.CoordinatorNotAvailable},
		{group.ErrNotCoordinator, kerr.NotCoordinator},
		{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{txn.ErrNotCoordinator, kerr.NotCoordinator},
		{txn.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{errNoGroups, kerr.CoordinatorNotAvailable},
		{errNoTxn, kerr.CoordinatorNotAvailable},
		// Groups.
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
		// Metadata: the controller and topic administration.
		{metadata.ErrNotController, kerr.NotController},
		{metadata.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
		{metadata.ErrStalePartitionState, kerr.InvalidUpdateVersion},
		{metadata.ErrIneligibleReplica, kerr.IneligibleReplica},
		{metadata.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
		{metadata.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
		{metadata.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
		{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
		{metadata.ErrNoReassignment, kerr.NoReassignmentInProgress},
		{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
		{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
		{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
		{metadata.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
		{metadata.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
		{metadata.ErrInvalidConfig, kerr.InvalidConfig},
		{metadata.ErrInvalidRequest, kerr.InvalidRequest},
		{metadata.ErrPolicyViolation, kerr.PolicyViolation},
		{&metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Unknown topic config name: x"}, kerr.InvalidConfig},
		{&config.ConfigError{Name: "x", Msg: "Invalid value"}, kerr.InvalidConfig},
		{errTopicDeletionDisabled, kerr.TopicDeletionDisabled},
		// Partitions, replicas, records and logs.
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
		// Transactions and producer state.
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
		// Two sentinels: the coordinator's answer wins over the log's
		// error it wraps, and over a timeout while loading.
		{fmt.Errorf("%w: %w", txn.ErrNotCoordinator, fmt.Errorf("%w: %w", coordinator.ErrNotLeader, replica.ErrNotLeader)), kerr.NotCoordinator},
		{fmt.Errorf("%w: %w", group.ErrNotCoordinator, commitlog.ErrClosed), kerr.NotCoordinator},
		{fmt.Errorf("load: %w: %w", coordinator.ErrNotAvailable, context.DeadlineExceeded), kerr.CoordinatorNotAvailable},
		{fmt.Errorf("load: %w: open: %w: led by 2", coordinator.ErrNotAvailable, coordinator.ErrNotCoordinator), kerr.NotCoordinator},
		// A produce failing KIP-890 verification: the coordinator's answer.
		{fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, txn.ErrConcurrentTransactions), kerr.ConcurrentTransactions},
		{fmt.Errorf("%w: %w", commitlog.ErrInvalidProducerEpoch, txn.ErrProducerFenced), kerr.ProducerFenced},
		{fmt.Errorf("%w: %w", commitlog.ErrInvalidTxnState, errors.New("not in the transaction")), kerr.InvalidTxnState},
		// Anything else is a bug or an I/O failure the caller logs.
		{errors.New("disk on fire"), kerr.UnknownServerError},
		{txn.ErrProducerIDsExhausted, kerr.UnknownServerError},
	} {
		if got := errorCode(fmt.Errorf("ctx: %w", tc.err)); got != tc.want.Code {
			t.Errorf("errorCode(%v) = %v, want %v", tc.err, kerr.ErrorForCode(got), tc.want)
		}
	}
	if got := errorCode(nil); got != 0 {
		t.Errorf("errorCode(nil) = %d, want 0", got)
	}
}

// TestTopicErrorCode: an unknown topic named by id is UNKNOWN_TOPIC_ID.
func TestTopicErrorCode(t *testing.T) {
	err := fmt.Errorf("delete: %w", metadata.ErrUnknownTopic)
	if got := topicErrorCode(err, true); got != kerr.UnknownTopicID.Code {
		t.Errorf("by id: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(got))
	}
	if got := topicErrorCode(err, false); got != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("by name: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(got))
	}
	if got := topicErrorCode(metadata.ErrTopicExists, true); got != kerr.TopicAlreadyExists.Code {
		t.Errorf("other error by id: %v, want TOPIC_ALREADY_EXISTS", kerr.ErrorForCode(got))
	}
}
