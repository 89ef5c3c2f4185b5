package handler

import (
	"net"
	"strconv"
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

func joinHostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
