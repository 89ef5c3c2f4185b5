package metadata

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"

	"github.com/kavka-io/kavka/internal/config"
)

// CreateTopicRequest asks for a new topic.
type CreateTopicRequest struct {
	Name string
	// Partitions is the number of partitions; -1 means num.partitions.
	Partitions int32
	// ReplicationFactor is the number of replicas; -1 means
	// default.replication.factor.
	ReplicationFactor int16
	// Assignment, when not empty, gives the replicas of each partition
	// (partition → broker ids); Partitions and ReplicationFactor must then
	// be -1.
	Assignment map[int32][]int32
	// Configs are the topic's config overrides.
	Configs map[string]string
}

// CreateTopic creates a topic. With validateOnly it checks everything and
// returns the topic that would be created (with a zero id), changing nothing.
func (s *Store) CreateTopic(req CreateTopicRequest, validateOnly bool) (*Topic, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	if req.Name == ClusterMetadataTopic {
		return nil, newErr(ErrInvalidTopic, "Topic name %s is reserved for the cluster metadata log", req.Name)
	}
	if s.remote(validateOnly) {
		if err := s.forward(&Command{Op: OpCreateTopic, Topic: req.Name, Create: req}); err != nil {
			return nil, err
		}
		if t := s.Image().Topic(req.Name); t != nil {
			return t, nil
		}
		return nil, newErr(ErrUnknownTopic, "Topic '%s' was deleted right after its creation.", req.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(validateOnly); err != nil {
		return nil, err
	}
	im := s.image.Load()
	if im.Topics[req.Name] != nil {
		return nil, newErr(ErrTopicExists, "Topic '%s' already exists.", req.Name)
	}
	u := unifyCollisionChars(req.Name)
	for _, n := range im.names {
		if unifyCollisionChars(n) == u {
			return nil, collisionError(req.Name, n)
		}
	}
	assignment, err := s.assign(im, req)
	if err != nil {
		return nil, err
	}
	if err := s.checkConfigs(req.Configs); err != nil {
		return nil, err
	}
	var id [16]byte
	if !validateOnly {
		if id, err = s.newTopicID(im); err != nil {
			return nil, err
		}
	}
	recs := make([]record, 0, 1+len(assignment)+len(req.Configs))
	recs = append(recs, record{Type: recTopic, Name: req.Name, TopicID: id})
	for i, replicas := range assignment {
		recs = append(recs, partitionRecord(id, int32(i), replicas))
	}
	recs = append(recs, configRecords(req.Name, nil, req.Configs)...)
	if validateOnly {
		// Apply to a scratch image whose id space cannot clash.
		return validateTopic(im, recs, req.Name)
	}
	next, err := s.commitLocked(recs, false)
	if err != nil {
		return nil, err
	}
	return next.Topics[req.Name], nil
}

// validateTopic builds the topic recs describe without publishing it.
func validateTopic(im *Image, recs []record, name string) (*Topic, error) {
	scratch := *im
	scratch.TopicsByID = map[[16]byte]*Topic{}
	scratch.Topics = map[string]*Topic{}
	b := newBuilder(&scratch)
	for i := range recs {
		if err := b.apply(&recs[i]); err != nil {
			panic(fmt.Sprintf("BUG: validated metadata record does not apply: %v", err))
		}
	}
	return b.finish().Topics[name], nil
}

func partitionRecord(id [16]byte, index int32, replicas []int32) record {
	return record{Type: recPartition, TopicID: id, Partition: index, Replicas: replicas,
		ISR: slices.Clone(replicas), Leader: replicas[0], LeaderEpoch: 0}
}

// assign returns the replicas of each partition of a new topic.
func (s *Store) assign(im *Image, req CreateTopicRequest) ([][]int32, error) {
	if len(req.Assignment) > 0 {
		if req.Partitions != -1 || req.ReplicationFactor != -1 {
			return nil, newErr(ErrInvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		n := len(req.Assignment)
		if err := s.checkPartitionLimit(im, n); err != nil {
			return nil, err
		}
		out := make([][]int32, n)
		for p, replicas := range req.Assignment {
			if p < 0 || int(p) >= n {
				return nil, newErr(ErrInvalidReplicaAssignment, "Partitions must be numbered 0 to %d; the assignment has partition %d.", n-1, p)
			}
			out[p] = replicas
		}
		if err := checkAssignment(im, out, 0); err != nil {
			return nil, err
		}
		return out, nil
	}
	parts, rf := req.Partitions, req.ReplicationFactor
	if parts == -1 {
		parts = s.opts.Config.NumPartitions
	}
	if rf == -1 {
		rf = s.opts.Config.DefaultReplicationFactor
	}
	if parts <= 0 {
		return nil, newErr(ErrInvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if rf <= 0 {
		return nil, newErr(ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if int(rf) > len(im.Brokers) {
		return nil, newErr(ErrInvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, len(im.Brokers))
	}
	if err := s.checkPartitionLimit(im, int(parts)); err != nil {
		return nil, err
	}
	if im.quorum {
		return place(im, int(parts), int(rf)), nil
	}
	return roundRobin(im.Brokers, 0, int(parts), int(rf)), nil
}

// roundRobin places partitions first..first+n-1 with rf replicas each,
// leaders spread over the brokers.
func roundRobin(brokers []Broker, first, n, rf int) [][]int32 {
	out := make([][]int32, n)
	for i := range out {
		r := make([]int32, rf)
		for j := range r {
			r[j] = brokers[(first+i+j)%len(brokers)].NodeID
		}
		out[i] = r
	}
	return out
}

// checkAssignment checks manual replica lists (partition first+i is
// assignment[i]).
func checkAssignment(im *Image, assignment [][]int32, wantRF int) error {
	for _, replicas := range assignment {
		if len(replicas) == 0 {
			return newErr(ErrInvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
		}
		if wantRF == 0 {
			wantRF = len(replicas)
		}
		if len(replicas) != wantRF {
			return newErr(ErrInvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(replicas), wantRF)
		}
		seen := make(map[int32]bool, len(replicas))
		for _, b := range replicas {
			if seen[b] {
				return newErr(ErrInvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", b)
			}
			seen[b] = true
			if im.Broker(b) == nil {
				return newErr(ErrInvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", b)
			}
		}
	}
	return nil
}

func (s *Store) checkPartitionLimit(im *Image, add int) error {
	if add > s.opts.MaxPartitions-im.partitions {
		return newErr(ErrPolicyViolation, "Adding %d partition(s) would exceed the cluster limit of %d partitions (%d exist).", add, s.opts.MaxPartitions, im.partitions)
	}
	return nil
}

// checkConfigs validates topic config overrides against the broker defaults.
func (s *Store) checkConfigs(configs map[string]string) error {
	if _, err := s.opts.Config.ResolveTopic(configs); err != nil {
		var ce *config.ConfigError
		if errors.As(err, &ce) {
			return &Error{Kind: ErrInvalidConfig, Msg: ce.Msg}
		}
		return &Error{Kind: ErrInvalidConfig, Msg: err.Error()}
	}
	return nil
}

// configRecords returns the records that turn the overrides old into new.
func configRecords(topic string, old, new map[string]string) []record {
	var out []record
	keys := make([]string, 0, len(old)+len(new))
	for k := range old {
		keys = append(keys, k)
	}
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		nv, inNew := new[k]
		ov, inOld := old[k]
		switch {
		case !inNew:
			out = append(out, record{Type: recConfig, ResourceType: resourceTopic, ResourceName: topic, Name: k})
		case !inOld || ov != nv:
			out = append(out, record{Type: recConfig, ResourceType: resourceTopic, ResourceName: topic, Name: k, Value: &nv})
		}
	}
	return out
}

// newTopicID returns a random topic id that is not zero, not in use, and
// whose string form does not start with '-' (as Kafka's Uuid.randomUuid).
func (s *Store) newTopicID(im *Image) ([16]byte, error) {
	var id [16]byte
	for range 100 {
		if _, err := io.ReadFull(s.opts.Rand, id[:]); err != nil {
			return id, fmt.Errorf("generate topic id: %w", err)
		}
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // IETF variant
		if id != ([16]byte{}) && id[0]>>2 != 62 && im.TopicsByID[id] == nil {
			return id, nil
		}
	}
	return id, errors.New("generate topic id: random source keeps repeating")
}

// DeleteTopic deletes the named topic.
func (s *Store) DeleteTopic(name string) error {
	if s.remote(false) {
		return s.forward(&Command{Op: OpDeleteTopic, Topic: name})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return err
	}
	t := s.image.Load().Topics[name]
	if t == nil {
		return newErr(ErrUnknownTopic, "This server does not host this topic-partition.")
	}
	_, err := s.commitLocked([]record{{Type: recRemoveTopic, TopicID: t.ID}}, false)
	return err
}

// DeleteTopicByID deletes the topic with id and returns its name.
func (s *Store) DeleteTopicByID(id [16]byte) (string, error) {
	if s.remote(false) {
		name := ""
		if t := s.Image().TopicByID(id); t != nil {
			name = t.Name
		}
		return name, s.forward(&Command{Op: OpDeleteTopicByID, TopicID: id, Topic: name})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(false); err != nil {
		return "", err
	}
	t := s.image.Load().TopicsByID[id]
	if t == nil {
		return "", newErr(ErrUnknownTopic, "This server does not host this topic ID.")
	}
	_, err := s.commitLocked([]record{{Type: recRemoveTopic, TopicID: t.ID}}, false)
	return t.Name, err
}

// CreatePartitions grows the named topic to total partitions. assignment,
// when not nil, gives the replicas of each new partition.
func (s *Store) CreatePartitions(name string, total int32, assignment [][]int32, validateOnly bool) (*Topic, error) {
	if s.remote(validateOnly) {
		if err := s.forward(&Command{Op: OpCreatePartitions, Topic: name, Total: total, Assignment: assignment}); err != nil {
			return nil, err
		}
		if t := s.Image().Topic(name); t != nil {
			return t, nil
		}
		return nil, newErr(ErrUnknownTopic, "The topic '%s' does not exist.", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(validateOnly); err != nil {
		return nil, err
	}
	im := s.image.Load()
	t := im.Topics[name]
	if t == nil {
		return nil, newErr(ErrUnknownTopic, "The topic '%s' does not exist.", name)
	}
	cur := int32(len(t.Partitions))
	switch {
	case total < cur:
		return nil, newErr(ErrInvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", cur, total)
	case total == cur:
		return nil, newErr(ErrInvalidPartitions, "Topic already has %d partition(s).", cur)
	}
	add := int(total - cur)
	if err := s.checkPartitionLimit(im, add); err != nil {
		return nil, err
	}
	rf := int(t.ReplicationFactor())
	if assignment != nil {
		if len(assignment) != add {
			return nil, newErr(ErrInvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(assignment))
		}
		if err := checkAssignment(im, assignment, rf); err != nil {
			return nil, err
		}
	} else {
		if rf > len(im.Brokers) {
			return nil, newErr(ErrInvalidReplicationFactor, "Unable to replicate the partition %d time(s): only %d broker(s) are registered.", rf, len(im.Brokers))
		}
		if im.quorum {
			assignment = place(im, add, rf)
		} else {
			assignment = roundRobin(im.Brokers, int(cur), add, rf)
		}
	}
	recs := make([]record, add)
	for i := range recs {
		recs[i] = partitionRecord(t.ID, cur+int32(i), assignment[i])
	}
	next, err := s.commitLocked(recs, validateOnly)
	if err != nil {
		return nil, err
	}
	return next.Topics[name], nil
}

// SetTopicConfigs replaces all config overrides of the named topic with
// configs (an empty map removes them all).
func (s *Store) SetTopicConfigs(name string, configs map[string]string, validateOnly bool) error {
	if s.remote(validateOnly) {
		return s.forward(&Command{Op: OpSetTopicConfigs, Topic: name, Configs: maps.Clone(configs)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.activeLocked(validateOnly); err != nil {
		return err
	}
	t := s.image.Load().Topics[name]
	if t == nil {
		return newErr(ErrUnknownTopic, "The topic '%s' does not exist.", name)
	}
	if err := s.checkConfigs(configs); err != nil {
		return err
	}
	_, err := s.commitLocked(configRecords(name, t.Configs, maps.Clone(configs)), validateOnly)
	return err
}

// BrokerConfig returns the broker configuration topics are resolved against.
func (s *Store) BrokerConfig() *config.Broker { return s.opts.Config }
