package handler

import (
	"errors"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/metadata"
)

// clusterAPIs serve the metadata quorum: the inter-broker APIs a broker
// sends to the active controller (BrokerRegistration, BrokerHeartbeat,
// AlterPartition; KIP-631, KIP-497) and the cluster administration APIs
// (ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments,
// DescribeQuorum). In cluster mode they arrive on the
// CONTROLLER listener (or the client one); in single-node mode the local
// controller answers them.
var clusterAPIs = map[int16]api{
	43: {name: "ElectLeaders", minVersion: 0, maxVersion: 2, serve: adapt((*Handlers).electLeaders)},
	45: {name: "AlterPartitionAssignments", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).alterPartitionReassignments)},
	46: {name: "ListPartitionReassignments", minVersion: 0, maxVersion: 0, serve: adapt((*Handlers).listPartitionReassignments)},
	55: {name: "DescribeQuorum", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).describeQuorum)},
	56: {name: "AlterPartition", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).alterPartition)},
	62: {name: "BrokerRegistration", minVersion: 0, maxVersion: 3, serve: adapt((*Handlers).brokerRegistration)},
	63: {name: "BrokerHeartbeat", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).brokerHeartbeat)},
}

// RaftListenerName names the listener entry of a BrokerRegistration that
// carries the broker's raft transport address (where the active controller
// pushes the metadata log to a learner). Kavka-specific: Kafka's brokers
// fetch the log instead.
const RaftListenerName = "KAVKA_RAFT"

// clusterErrorCode maps the controller's errors to Kafka's codes.
func clusterErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, metadata.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, metadata.ErrStaleBrokerEpoch):
		return kerr.StaleBrokerEpoch.Code
	case errors.Is(err, metadata.ErrStalePartitionState):
		return kerr.InvalidUpdateVersion.Code
	case errors.Is(err, metadata.ErrIneligibleReplica):
		return kerr.IneligibleReplica.Code
	case errors.Is(err, metadata.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, metadata.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, metadata.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, metadata.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, metadata.ErrNoReassignment):
		return kerr.NoReassignmentInProgress.Code
	default:
		if code := metaErrorCode(err, false); code != kerr.UnknownServerError.Code {
			return code // INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR, …
		}
		return errorCode(err)
	}
}

func joinHostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
