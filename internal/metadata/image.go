package metadata

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Image is the cluster metadata at one point of the log. Images are
// immutable: a change produces a new Image sharing the unchanged topics, so
// callers may keep and read one without locks. Never modify an Image or
// anything reachable from it.
type Image struct {
	ClusterID    string
	ControllerID int32
	Brokers      []Broker // sorted by NodeID
	Topics       map[string]*Topic
	TopicsByID   map[[16]byte]*Topic

	// names is the sorted list of topic names.
	names []string
	// partitions is the total number of partitions of all topics.
	partitions int
}

// Broker is a registered broker.
type Broker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// Topic is one topic.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition // index i is partition i
	// Configs are the topic's config overrides only; defaults come from the
	// broker (config.Broker.ResolveTopic).
	Configs  map[string]string
	Internal bool
}

// Partition is one partition of a topic.
type Partition struct {
	Index       int32
	Leader      int32 // -1 when there is none
	LeaderEpoch int32
	// PartitionEpoch is bumped by every change of the partition (leader or
	// ISR), as Kafka's; AlterPartition proposals name the one they were
	// made from (KIP-497).
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// TopicNames returns the names of all topics, sorted. The slice must not be
// modified.
func (im *Image) TopicNames() []string { return im.names }

// NumPartitions returns the total number of partitions of all topics.
func (im *Image) NumPartitions() int { return im.partitions }

// Topic returns the named topic, or nil.
func (im *Image) Topic(name string) *Topic { return im.Topics[name] }

// TopicByID returns the topic with id, or nil.
func (im *Image) TopicByID(id [16]byte) *Topic { return im.TopicsByID[id] }

// Broker returns the broker with id, or nil.
func (im *Image) Broker(id int32) *Broker {
	for i := range im.Brokers {
		if im.Brokers[i].NodeID == id {
			return &im.Brokers[i]
		}
	}
	return nil
}

// ReplicationFactor returns the number of replicas of partition 0.
func (t *Topic) ReplicationFactor() int16 {
	if len(t.Partitions) == 0 {
		return 0
	}
	return int16(len(t.Partitions[0].Replicas))
}

// IDString renders a topic id as Kafka does (URL-safe base64 without padding).
func IDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// emptyImage is the image before any record: this broker and the static
// peers given in Options.Brokers.
func emptyImage(clusterID string, self Broker, peers []Broker) *Image {
	brokers := []Broker{self}
	for _, b := range peers {
		if b.NodeID != self.NodeID {
			brokers = append(brokers, b)
		}
	}
	slices.SortFunc(brokers, func(a, b Broker) int { return int(a.NodeID) - int(b.NodeID) })
	return &Image{
		ClusterID:    clusterID,
		ControllerID: self.NodeID,
		Brokers:      brokers,
		Topics:       map[string]*Topic{},
		TopicsByID:   map[[16]byte]*Topic{},
	}
}

// Record types, after Kafka's metadata records (metadata/src/main/resources/
// common/metadata/*.json). Only the fields Kavka uses are kept.
const (
	recTopic       = "topic"       // TopicRecord: Name, TopicID
	recPartition   = "partition"   // PartitionRecord: TopicID, Partition, Replicas, ISR, Leader, LeaderEpoch
	recConfig      = "config"      // ConfigRecord: ResourceType 2 (topic), ResourceName, Name, Value (nil = delete)
	recRemoveTopic = "removeTopic" // RemoveTopicRecord: TopicID
)

// Config resource types, as in Kafka's ConfigResource.Type.
const (
	resourceTopic  int8 = 2
	resourceBroker int8 = 4
)

// record is one metadata record.
type record struct {
	Type         string  `json:"type"`
	Name         string  `json:"name,omitempty"`
	TopicID      uuid    `json:"topicId,omitzero"`
	Partition    int32   `json:"partition,omitempty"`
	Replicas     []int32 `json:"replicas,omitempty"`
	ISR          []int32 `json:"isr,omitempty"`
	Leader       int32   `json:"leader,omitempty"`
	LeaderEpoch  int32   `json:"leaderEpoch,omitempty"`
	PartEpoch    int32   `json:"partitionEpoch,omitempty"`
	ResourceType int8    `json:"resourceType,omitempty"`
	ResourceName string  `json:"resourceName,omitempty"`
	Value        *string `json:"value,omitempty"`
}

// uuid is a topic id, stored in JSON as 32 hex digits.
type uuid [16]byte

func (u uuid) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(u[:])), nil }

func (u *uuid) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("topic id %q: want 32 hex digits", b)
	}
	_, err := hex.Decode(u[:], b)
	return err
}

// builder applies records to a copy of an image, copying each topic at most
// once.
type builder struct {
	im      *Image
	touched map[string]bool // topics already copied
	renamed bool            // the set of topic names changed
}

func newBuilder(prev *Image) *builder {
	im := *prev
	im.Topics = maps.Clone(prev.Topics)
	im.TopicsByID = maps.Clone(prev.TopicsByID)
	return &builder{im: &im, touched: map[string]bool{}}
}

// mutable returns a private copy of the topic with id, or nil.
func (b *builder) mutable(id [16]byte) *Topic {
	t := b.im.TopicsByID[id]
	if t == nil {
		return nil
	}
	if !b.touched[t.Name] {
		c := *t
		c.Partitions = slices.Clone(t.Partitions)
		c.Configs = maps.Clone(t.Configs)
		t = &c
		b.im.Topics[t.Name], b.im.TopicsByID[id] = t, t
		b.touched[t.Name] = true
	}
	return t
}

// apply applies one record. Records come from our own validated mutations or
// from a CRC-checked log, so an inconsistent one means a corrupt log or a
// bug; it is returned as an error so that Open can report it.
func (b *builder) apply(r *record) error {
	switch r.Type {
	case recTopic:
		if r.Name == "" || b.im.Topics[r.Name] != nil || b.im.TopicsByID[r.TopicID] != nil {
			return fmt.Errorf("topic record %q %x: duplicate or unnamed", r.Name, r.TopicID)
		}
		t := &Topic{Name: r.Name, ID: r.TopicID, Configs: map[string]string{}, Internal: IsInternal(r.Name)}
		b.im.Topics[r.Name], b.im.TopicsByID[r.TopicID] = t, t
		b.touched[r.Name], b.renamed = true, true
	case recPartition:
		t := b.mutable(r.TopicID)
		if t == nil {
			return fmt.Errorf("partition record for unknown topic %x", r.TopicID)
		}
		if len(r.Replicas) == 0 {
			return fmt.Errorf("partition record %s-%d: no replicas", t.Name, r.Partition)
		}
		p := Partition{Index: r.Partition, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartEpoch,
			Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR)}
		switch {
		case int(r.Partition) == len(t.Partitions):
			t.Partitions = append(t.Partitions, p)
			b.im.partitions++
		case r.Partition >= 0 && int(r.Partition) < len(t.Partitions):
			t.Partitions[r.Partition] = p // a change of leader or ISR
		default:
			return fmt.Errorf("partition record %s-%d: topic has %d partitions", t.Name, r.Partition, len(t.Partitions))
		}
	case recConfig:
		if r.ResourceType != resourceTopic {
			return fmt.Errorf("config record for resource type %d", r.ResourceType)
		}
		t := b.im.Topics[r.ResourceName]
		if t == nil {
			return fmt.Errorf("config record for unknown topic %q", r.ResourceName)
		}
		t = b.mutable(t.ID)
		if r.Value == nil {
			delete(t.Configs, r.Name)
		} else {
			t.Configs[r.Name] = *r.Value
		}
	case recRemoveTopic:
		t := b.im.TopicsByID[r.TopicID]
		if t == nil {
			return fmt.Errorf("remove record for unknown topic %x", r.TopicID)
		}
		delete(b.im.Topics, t.Name)
		delete(b.im.TopicsByID, t.ID)
		delete(b.touched, t.Name)
		b.im.partitions -= len(t.Partitions)
		b.renamed = true
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	return nil
}

// finish returns the new image.
func (b *builder) finish() *Image {
	if b.renamed {
		names := make([]string, 0, len(b.im.Topics))
		for n := range b.im.Topics {
			names = append(names, n)
		}
		sort.Strings(names)
		b.im.names = names
	}
	im := b.im
	b.im = nil
	return im
}

// snapshotRecords returns records that rebuild im's topics from nothing.
func snapshotRecords(im *Image) []record {
	var out []record
	for _, name := range im.names {
		t := im.Topics[name]
		out = append(out, record{Type: recTopic, Name: t.Name, TopicID: t.ID})
		for _, p := range t.Partitions {
			out = append(out, record{Type: recPartition, TopicID: t.ID, Partition: p.Index,
				Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartEpoch: p.PartitionEpoch})
		}
		keys := make([]string, 0, len(t.Configs))
		for k := range t.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := t.Configs[k]
			out = append(out, record{Type: recConfig, ResourceType: resourceTopic, ResourceName: t.Name, Name: k, Value: &v})
		}
	}
	return out
}
