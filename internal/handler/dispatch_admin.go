package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// adminAPIs serve cluster metadata and administration: topics, configs.
// Each handler's file lists what its versions add.
var adminAPIs = map[int16]api{
	3:  {name: "Metadata", minVersion: 0, maxVersion: 13, serve: adapt((*Handlers).metadata)},
	19: {name: "CreateTopics", minVersion: 0, maxVersion: 7, serve: adapt((*Handlers).createTopics)},
	20: {name: "DeleteTopics", minVersion: 0, maxVersion: 6, serve: adapt((*Handlers).deleteTopics)},
	32: {name: "DescribeConfigs", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).describeConfigs)},
	33: {name: "AlterConfigs", minVersion: 0, maxVersion: 2, serve: adapt((*Handlers).alterConfigs)},
	37: {name: "CreatePartitions", minVersion: 0, maxVersion: 3, serve: adapt((*Handlers).createPartitions)},
	44: {name: "IncrementalAlterConfigs", minVersion: 0, maxVersion: 1, serve: adapt((*Handlers).incrementalAlterConfigs)},
	60: {name: "DescribeCluster", minVersion: 0, maxVersion: 2, serve: adapt((*Handlers).describeCluster)},
}

// Config resource types (Kafka's ConfigResource.Type).
const (
	resourceTopic  = 2
	resourceBroker = 4
)

// metaErrorCode maps an error of the metadata store or of config validation
// to Kafka's error code. byID selects UNKNOWN_TOPIC_ID for unknown topics.
func metaErrorCode(err error, byID bool) int16 {
	var ce *config.ConfigError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, metadata.ErrUnknownTopic):
		if byID {
			return kerr.UnknownTopicID.Code
		}
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, metadata.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, metadata.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, metadata.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, metadata.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, metadata.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, metadata.ErrInvalidConfig), errors.As(err, &ce):
		return kerr.InvalidConfig.Code
	case errors.Is(err, metadata.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, metadata.ErrPolicyViolation):
		return kerr.PolicyViolation.Code
	case errors.Is(err, errTopicDeletionDisabled):
		return kerr.TopicDeletionDisabled.Code
	case errors.Is(err, metadata.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errTopicDeletionDisabled is returned when delete.topic.enable is false.
var errTopicDeletionDisabled = errors.New("Topic deletion is disabled.") //nolint:staticcheck // Kafka's message, sent to clients

// metaError returns the code and the client message for err. An unexpected
// error is logged once here and its text is not sent to the client.
func (h *Handlers) metaError(err error, byID bool, what string) (int16, *string) {
	code := metaErrorCode(err, byID)
	if code == 0 {
		return 0, nil
	}
	if code == kerr.UnknownServerError.Code {
		h.logger().Error("admin request failed", "op", what, "err", err)
		return code, nil
	}
	msg := err.Error()
	return code, &msg
}

// brokerConfig returns the broker configuration.
func (h *Handlers) brokerConfig() *config.Broker {
	if h.deps.Config != nil {
		return h.deps.Config
	}
	return defaultBrokerConfig
}

var defaultBrokerConfig = func() *config.Broker { c := config.Defaults(); return &c }()

func strp(s string) *string { return &s }
