package handler

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kavka-io/kavka/internal/config"
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

// errTopicDeletionDisabled is returned when delete.topic.enable is false.
var errTopicDeletionDisabled = errors.New("Topic deletion is disabled.") //nolint:staticcheck // Kafka's message, sent to clients

// metaError returns the code and the client message for err. An unexpected
// error is logged once here and its text is not sent to the client.
func (h *Handlers) metaError(err error, byID bool, what string) (int16, *string) {
	code := topicErrorCode(err, byID)
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
