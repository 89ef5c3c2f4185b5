package metadata

import "strings"

// MaxTopicNameLen is Kafka's limit on a topic name (255 less room for the
// partition suffix of the log directory name).
const MaxTopicNameLen = 249

// Internal topic names (Kafka's Topic.INTERNAL_TOPICS) and the reserved name
// of the metadata log, whose directory lives next to partition logs.
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"
	TransactionStateTopic = "__transaction_state"
	ClusterMetadataTopic  = "__cluster_metadata"
)

// ValidateTopicName checks a topic name as Kafka's Topic.validate does. The
// error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return newErr(ErrInvalidTopic, "Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return newErr(ErrInvalidTopic, "Topic name cannot be \".\" or \"..\"")
	case len(name) > MaxTopicNameLen:
		return newErr(ErrInvalidTopic, "Topic name is illegal, it can't be longer than %d characters, topic name: %.300s", MaxTopicNameLen, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return newErr(ErrInvalidTopic, "Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// IsInternal reports whether name is one of Kafka's internal topics.
func IsInternal(name string) bool {
	return name == ConsumerOffsetsTopic || name == TransactionStateTopic
}

// unifyCollisionChars maps '.' to '_': two topics whose names differ only
// there would collide in metric names, so Kafka refuses the second.
func unifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }

func collisionError(name, existing string) error {
	return newErr(ErrInvalidTopic, "Topic '%s' collides with existing topic: %s", name, existing)
}
