package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/replica"
)

// Metadata (API key 3): versions 0–13.
//
//	v0: all topics when the topic list is empty
//	v1: null topic list = all topics, empty = none; racks, controller id, IsInternal
//	v2: cluster id
//	v3: ThrottleMillis
//	v4: AllowAutoTopicCreation (before v4 requests always allow it)
//	v5: OfflineReplicas
//	v7: LeaderEpoch (KIP-320)
//	v8: authorized operations (KIP-430); left at Kafka's "not requested"
//	    default (-2147483648) — Kavka has no authorizer yet
//	v9: flexible versions
//	v10: topic ids; a topic may be asked for by id (null name)
//	v11: cluster authorized operations removed
//	v12: null topic names in responses for unknown ids
//	v13: top-level ErrorCode (KIP-1102), always 0 here
//
// Auto-creation happens when the request allows it and
// auto.create.topics.enable is set: the topic is created synchronously with
// the broker defaults and returned with its partitions at once (Kafka
// answers LEADER_NOT_AVAILABLE first; clients retry either way).
func (h *Handlers) metadata(_ context.Context, rc *RequestContext, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	im := h.deps.Meta.Image()
	cfg := h.brokerConfig()

	for _, b := range im.Brokers {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.NodeID, b.Host, b.Port, b.Rack
		if b.NodeID == cfg.NodeID && h.deps.Config != nil {
			rb.Host, rb.Port = cfg.AdvertisedHostPort()
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ClusterID = strp(im.ClusterID)
	resp.ControllerID = im.ControllerID

	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	if all {
		for _, name := range im.TopicNames() {
			resp.Topics = append(resp.Topics, h.metadataTopic(im, im.Topics[name]))
		}
		return resp
	}
	autoCreate := cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	seen := make(map[string]bool, len(req.Topics))
	seenID := make(map[[16]byte]bool)
	for _, rt := range req.Topics {
		// Kafka answers each topic once, however often it is asked for.
		if rt.Topic != nil {
			if seen[*rt.Topic] {
				continue
			}
			seen[*rt.Topic] = true
		} else if req.Version >= 10 {
			if seenID[rt.TopicID] {
				continue
			}
			seenID[rt.TopicID] = true
		}
		switch {
		case rt.Topic == nil && req.Version >= 10:
			if t := im.TopicByID(rt.TopicID); t != nil {
				resp.Topics = append(resp.Topics, h.metadataTopic(im, t))
				continue
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID, mt.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
		case rt.Topic == nil:
			mt := kmsg.NewMetadataResponseTopic()
			mt.ErrorCode = kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, mt)
		default:
			resp.Topics = append(resp.Topics, h.metadataByName(rc, &im, *rt.Topic, autoCreate))
		}
	}
	return resp
}

// metadataByName answers for one named topic, creating it if allowed. *im is
// updated after a creation so that later topics see it.
func (h *Handlers) metadataByName(rc *RequestContext, im **metadata.Image, name string, autoCreate bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = strp(name)
	if t := (*im).Topic(name); t != nil {
		return h.metadataTopic(*im, t)
	}
	if err := metadata.ValidateTopicName(name); err != nil {
		mt.ErrorCode = kerr.InvalidTopicException.Code
		return mt
	}
	if !autoCreate || metadata.IsInternal(name) {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return mt
	}
	t, err := h.deps.Meta.CreateTopic(metadata.CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1}, false)
	switch {
	case err == nil:
		*im = h.deps.Meta.Image()
		h.logger().Info("auto-created topic", "topic", name, "partitions", len(t.Partitions), "peer", rc.Peer)
		return h.metadataTopic(*im, t)
	case errors.Is(err, metadata.ErrTopicExists): // created concurrently
		*im = h.deps.Meta.Image()
		if t := (*im).Topic(name); t != nil {
			return h.metadataTopic(*im, t)
		}
		mt.ErrorCode = kerr.LeaderNotAvailable.Code
	default:
		mt.ErrorCode, _ = h.metaError(err, false, "auto-create topic "+name)
	}
	return mt
}

// metadataTopic answers for one topic from im. A partition the image says
// this broker leads, but whose local replica is not the leader, is answered
// like a partition without a live leader (-1, LEADER_NOT_AVAILABLE): the
// broker has no lease (cut off from the controller, which has fenced it or
// is about to, docs/adr/0009-broker-lease.md) or is not yet registered and
// unfenced in this incarnation, so its image may be stale. Naming itself
// would send clients straight back for NOT_LEADER_OR_FOLLOWER; franz-go
// keeps what it knew for such a partition and asks another broker for
// metadata soon (it rotates through the brokers).
func (h *Handlers) metadataTopic(im *metadata.Image, t *metadata.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID, mt.IsInternal = strp(t.Name), t.ID, t.Internal
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		for _, r := range p.Replicas {
			if im.Broker(r) == nil {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if mp.Replicas == nil {
			mp.Replicas = []int32{}
		}
		if mp.ISR == nil {
			mp.ISR = []int32{}
		}
		switch {
		case p.Leader < 0 || im.Broker(p.Leader) == nil:
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		case p.Leader == h.deps.NodeID && !h.leadsLocally(t.Name, p.Index):
			mp.Leader, mp.ErrorCode = -1, kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// leadsLocally reports whether this broker's replica of a partition is its
// leader (always, without Deps.Replicas: single-node behaviour).
func (h *Handlers) leadsLocally(topic string, partition int32) bool {
	if h.deps.Replicas == nil {
		return true
	}
	p := h.deps.Replicas.Partition(topic, partition)
	if p == nil {
		return false
	}
	role, _ := p.Role()
	return role == replica.RoleLeader
}
