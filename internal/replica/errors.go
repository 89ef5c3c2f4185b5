package replica

import "errors"

// Errors returned by a Partition; the handler maps them to Kafka codes.
var (
	// ErrNotLeader: this broker is not the partition's leader (or not a
	// replica at all): NOT_LEADER_OR_FOLLOWER.
	ErrNotLeader = errors.New("replica: not the leader")
	// ErrNotEnoughReplicas: acks=all with fewer in-sync replicas than
	// min.insync.replicas, before the append: NOT_ENOUGH_REPLICAS.
	ErrNotEnoughReplicas = errors.New("replica: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: the batch was appended but the ISR
	// shrank below min.insync.replicas before it was committed:
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: not enough in-sync replicas after append")
	// ErrFencedLeaderEpoch: the request's leader epoch is older than ours:
	// FENCED_LEADER_EPOCH.
	ErrFencedLeaderEpoch = errors.New("replica: fenced leader epoch")
	// ErrUnknownLeaderEpoch: the request's leader epoch is newer than ours
	// (our metadata is behind): UNKNOWN_LEADER_EPOCH.
	ErrUnknownLeaderEpoch = errors.New("replica: unknown leader epoch")
	// ErrUnknownPartition: this broker holds no replica of the partition:
	// UNKNOWN_TOPIC_OR_PARTITION.
	ErrUnknownPartition = errors.New("replica: unknown partition")
	// ErrStaleState: AlterPartition was refused because the proposer's
	// leader or partition epoch is not the current one (Kafka
	// FENCED_LEADER_EPOCH or INVALID_UPDATE_VERSION from the controller).
	// The controller holds a newer state — possibly this very proposal,
	// committed by an earlier attempt whose answer was lost — which will
	// reach the leader as metadata.
	ErrStaleState = errors.New("replica: stale partition state")
	// ErrProposalRejected: AlterPartition was refused and not applied, and
	// no newer state is on its way (Kafka INELIGIBLE_REPLICA, or an unknown
	// partition): the leader may propose again from its current state.
	ErrProposalRejected = errors.New("replica: ISR proposal rejected")
)
