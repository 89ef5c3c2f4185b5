package group

import (
	"errors"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// Errors returned by the coordinator. The handler maps each to its Kafka
// error code (internal/handler/errcode.go).
var (
	ErrUnknownMember           = errors.New("group: unknown member id")             // UNKNOWN_MEMBER_ID
	ErrIllegalGeneration       = errors.New("group: illegal generation")            // ILLEGAL_GENERATION
	ErrInconsistentProtocol    = errors.New("group: inconsistent group protocol")   // INCONSISTENT_GROUP_PROTOCOL
	ErrRebalanceInProgress     = errors.New("group: rebalance in progress")         // REBALANCE_IN_PROGRESS
	ErrMemberIDRequired        = errors.New("group: member id required")            // MEMBER_ID_REQUIRED
	ErrFencedInstanceID        = errors.New("group: fenced instance id")            // FENCED_INSTANCE_ID
	ErrInvalidSessionTimeout   = errors.New("group: invalid session timeout")       // INVALID_SESSION_TIMEOUT
	ErrGroupMaxSize            = errors.New("group: group max size reached")        // GROUP_MAX_SIZE_REACHED
	ErrInvalidGroupID          = errors.New("group: invalid group id")              // INVALID_GROUP_ID
	ErrCoordinatorNotAvailable = coordinator.ErrNotAvailable                        // COORDINATOR_NOT_AVAILABLE
	ErrNotCoordinator          = coordinator.ErrNotCoordinator                      // NOT_COORDINATOR
	ErrGroupNotFound           = errors.New("group: group id not found")            // GROUP_ID_NOT_FOUND
	ErrNonEmptyGroup           = errors.New("group: group is not empty")            // NON_EMPTY_GROUP
	ErrSubscribedToTopic       = errors.New("group: group is subscribed to topic")  // GROUP_SUBSCRIBED_TO_TOPIC
	ErrMetadataTooLarge        = errors.New("group: offset metadata too large")     // OFFSET_METADATA_TOO_LARGE
	ErrUnknownTopicOrPartition = errors.New("group: unknown topic or partition")    // UNKNOWN_TOPIC_OR_PARTITION
	ErrRequestTimedOut         = errors.New("group: timed out waiting for a reply") // REQUEST_TIMED_OUT

	// KIP-848 consumer groups.
	ErrInvalidRequest       = errors.New("group: invalid request")            // INVALID_REQUEST
	ErrUnsupportedVersion   = errors.New("group: consumer protocol disabled") // UNSUPPORTED_VERSION
	ErrUnsupportedAssignor  = errors.New("group: unsupported assignor")       // UNSUPPORTED_ASSIGNOR
	ErrFencedMemberEpoch    = errors.New("group: fenced member epoch")        // FENCED_MEMBER_EPOCH
	ErrStaleMemberEpoch     = errors.New("group: stale member epoch")         // STALE_MEMBER_EPOCH
	ErrUnreleasedInstanceID = errors.New("group: instance id still in use")   // UNRELEASED_INSTANCE_ID
	ErrInvalidRegex         = errors.New("group: invalid regular expression") // INVALID_REGULAR_EXPRESSION
)
