package metadata

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
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
	// Brokers are the live brokers (see Live: in cluster mode registered,
	// unfenced, not shutting down, log directory online; this node and its
	// static peers otherwise), sorted by NodeID:
	// what Metadata lists and where new replicas are placed.
	Brokers    []Broker
	Topics     map[string]*Topic
	TopicsByID map[[16]byte]*Topic

	// Registrations are every registered broker, fenced or not, sorted by
	// NodeID (cluster mode only; Kafka's BrokerRegistration in the image).
	Registrations []Registration
	// Offset is the metadata log offset (raft index) of the last record
	// batch applied; 0 in single-node mode.
	Offset int64

	// quorum is set in cluster mode: Brokers derive from Registrations.
	quorum bool

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

// Registration is a broker registered with the controller (Kafka's
// RegisterBrokerRecord plus Fence/UnfenceBrokerRecord and
// BrokerRegistrationChangeRecord).
type Registration struct {
	Broker
	// Epoch is the broker epoch: the offset of its registration record.
	Epoch int64
	// RaftAddr is where the broker's raft transport listens (learners are
	// pushed the metadata log there).
	RaftAddr string
	// Fenced brokers lead nothing and are not in Metadata.
	Fenced bool
	// ShuttingDown is set by a controlled shutdown until the broker
	// registers again.
	ShuttingDown bool
	// LogDirOffline is set when the broker reported its log directory
	// offline (BrokerHeartbeat v1 OfflineLogDirs, KIP-858): every replica
	// it holds is offline, so it leads nothing, is in no ISR, is not in
	// Metadata and gets no new replicas, until it registers again.
	LogDirOffline bool
}

// Registration returns the registration of broker id, or nil.
func (im *Image) Registration(id int32) *Registration {
	i, ok := slices.BinarySearchFunc(im.Registrations, id, func(r Registration, id int32) int { return int(r.NodeID) - int(id) })
	if !ok {
		return nil
	}
	return &im.Registrations[i]
}

// Live reports whether broker id may lead and be placed on: registered,
// unfenced, not shutting down and with its log directory online in cluster
// mode; listed in single-node mode.
func (im *Image) Live(id int32) bool {
	if !im.quorum {
		return im.Broker(id) != nil
	}
	r := im.Registration(id)
	return r != nil && r.live()
}

func (r *Registration) live() bool { return !r.Fenced && !r.ShuttingDown && !r.LogDirOffline }

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
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455): Replicas holds the target replicas followed by
	// the removing ones; once every adding replica is in the ISR the
	// controller drops the removing ones (reassign.go).
	AddingReplicas   []int32
	RemovingReplicas []int32
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

// LeadsAny reports whether broker id leads a partition in im: the
// controller answers ShouldShutdown only once it does not, and a broker in
// controlled shutdown waits until its own image shows it.
func (im *Image) LeadsAny(id int32) bool {
	for _, t := range im.Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

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

	// Cluster mode only.
	recRegisterBroker = "registerBroker" // RegisterBrokerRecord: BrokerID, BrokerEpoch (0 = this batch's offset), endpoint, Rack, RaftAddr; fenced
	recFenceBroker    = "fenceBroker"    // FenceBrokerRecord: BrokerID, BrokerEpoch
	recUnfenceBroker  = "unfenceBroker"  // UnfenceBrokerRecord: BrokerID, BrokerEpoch
	recShutdownBroker = "shutdownBroker" // BrokerRegistrationChangeRecord InControlledShutdown: BrokerID, BrokerEpoch
	recLogDirOffline  = "logDirOffline"  // BrokerRegistrationChangeRecord with its only LogDir offline (KIP-858): BrokerID, BrokerEpoch
	recCluster        = "cluster"        // the cluster id (Kavka; Kafka keeps it in meta.properties only)
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
	Adding       []int32 `json:"adding,omitempty"`
	Removing     []int32 `json:"removing,omitempty"`
	Leader       int32   `json:"leader,omitempty"`
	LeaderEpoch  int32   `json:"leaderEpoch,omitempty"`
	PartEpoch    int32   `json:"partitionEpoch,omitempty"`
	ResourceType int8    `json:"resourceType,omitempty"`
	ResourceName string  `json:"resourceName,omitempty"`
	Value        *string `json:"value,omitempty"`

	BrokerID    int32   `json:"brokerId,omitempty"`
	BrokerEpoch int64   `json:"brokerEpoch,omitempty"`
	Host        string  `json:"host,omitempty"`
	Port        int32   `json:"port,omitempty"`
	Rack        *string `json:"rack,omitempty"`
	RaftAddr    string  `json:"raftAddr,omitempty"`
	Fenced      bool    `json:"fenced,omitempty"`
	Shutdown    bool    `json:"shutdown,omitempty"`
	DirOffline  bool    `json:"logDirOffline,omitempty"`
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
	regs    bool            // Registrations copied (and Brokers to recompute)
	offset  int64           // offset of the batch being applied (cluster mode)
}

func newBuilder(prev *Image) *builder {
	im := *prev
	im.Topics = maps.Clone(prev.Topics)
	im.TopicsByID = maps.Clone(prev.TopicsByID)
	return &builder{im: &im, touched: map[string]bool{}}
}

// registration returns a private copy of broker id's registration, or nil.
func (b *builder) registration(id int32) *Registration {
	if !b.regs {
		b.im.Registrations = slices.Clone(b.im.Registrations)
		b.regs = true
	}
	return b.im.Registration(id)
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
			Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR),
			AddingReplicas: slices.Clone(r.Adding), RemovingReplicas: slices.Clone(r.Removing)}
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
	case recRegisterBroker:
		if !b.im.quorum {
			return fmt.Errorf("broker registration %d in single-node mode", r.BrokerID)
		}
		epoch := r.BrokerEpoch
		if epoch == 0 {
			epoch = b.offset
		}
		reg := Registration{Broker: Broker{NodeID: r.BrokerID, Host: r.Host, Port: r.Port, Rack: r.Rack},
			Epoch: epoch, RaftAddr: r.RaftAddr, Fenced: r.Fenced, ShuttingDown: r.Shutdown, LogDirOffline: r.DirOffline}
		if cur := b.registration(r.BrokerID); cur != nil {
			*cur = reg
		} else {
			b.im.Registrations = append(b.im.Registrations, reg)
			slices.SortFunc(b.im.Registrations, func(x, y Registration) int { return int(x.NodeID) - int(y.NodeID) })
		}
	case recFenceBroker, recUnfenceBroker, recShutdownBroker, recLogDirOffline:
		reg := b.registration(r.BrokerID)
		if reg == nil || reg.Epoch != r.BrokerEpoch {
			return fmt.Errorf("%s record for broker %d epoch %d: not registered in that epoch", r.Type, r.BrokerID, r.BrokerEpoch)
		}
		switch r.Type {
		case recFenceBroker:
			reg.Fenced = true
		case recUnfenceBroker:
			reg.Fenced, reg.ShuttingDown = false, false
		case recLogDirOffline:
			reg.LogDirOffline = true
		default:
			reg.ShuttingDown = true
		}
	case recCluster:
		if r.Name == "" {
			return errors.New("cluster record without an id")
		}
		b.im.ClusterID = r.Name
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
	if b.regs {
		b.im.Brokers = b.im.Brokers[:0:0]
		for _, r := range b.im.Registrations {
			if r.live() {
				b.im.Brokers = append(b.im.Brokers, r.Broker)
			}
		}
	}
	im := b.im
	b.im = nil
	return im
}

// snapshotRecords returns records that rebuild im's topics from nothing.
func snapshotRecords(im *Image) []record {
	var out []record
	if im.quorum {
		out = append(out, record{Type: recCluster, Name: im.ClusterID})
	}
	for _, r := range im.Registrations {
		out = append(out, record{Type: recRegisterBroker, BrokerID: r.NodeID, BrokerEpoch: r.Epoch, Host: r.Host, Port: r.Port,
			Rack: r.Rack, RaftAddr: r.RaftAddr, Fenced: r.Fenced, Shutdown: r.ShuttingDown, DirOffline: r.LogDirOffline})
	}
	for _, name := range im.names {
		t := im.Topics[name]
		out = append(out, record{Type: recTopic, Name: t.Name, TopicID: t.ID})
		for _, p := range t.Partitions {
			out = append(out, record{Type: recPartition, TopicID: t.ID, Partition: p.Index,
				Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartEpoch: p.PartitionEpoch,
				Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
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
