package handler

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// CreateTopics (API key 19): versions 0–7.
//
//	v1: ValidateOnly, ErrorMessage
//	v2: ThrottleMillis
//	v4: NumPartitions and ReplicationFactor may be -1 (broker defaults, KIP-464)
//	v5: flexible versions; the response carries the resolved configs,
//	    partition count and replication factor (KIP-525)
//	v6: no change (quota violations, KIP-599)
//	v7: TopicID in the response (KIP-516)
//
// Topics are created synchronously: when the response is sent the topic and
// its partition logs exist, so TimeoutMillis is not needed.
func (h *Handlers) createTopics(_ context.Context, rc *RequestContext, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := make(map[string]int, len(req.Topics))
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	cfg := h.brokerConfig()
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if count[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = strp("Create topics request contains multiple entries for the topic " + rt.Topic)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, err := h.createTopic(rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = h.metaError(err, false, "create topic "+rt.Topic)
			if req.Version < 1 {
				st.ErrorMessage = nil
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !req.ValidateOnly {
			h.logger().Info("created topic", "topic", t.Name, "partitions", len(t.Partitions), "peer", rc.Peer)
		}
		st.TopicID = t.ID
		st.NumPartitions, st.ReplicationFactor = int32(len(t.Partitions)), t.ReplicationFactor()
		if req.Version >= 5 {
			for _, e := range cfg.DescribeTopic(t.Configs) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (h *Handlers) createTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*metadata.Topic, error) {
	req := metadata.CreateTopicRequest{
		Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
	}
	if err := metadata.ValidateTopicName(rt.Topic); err != nil {
		return nil, err
	}
	if len(rt.ReplicaAssignment) > 0 {
		req.Assignment = make(map[int32][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if _, dup := req.Assignment[a.Partition]; dup {
				return nil, &metadata.Error{Kind: metadata.ErrInvalidReplicaAssignment,
					Msg: fmt.Sprintf("The manual partition assignment includes partition %d more than once.", a.Partition)}
			}
			req.Assignment[a.Partition] = a.Replicas
		}
	}
	if len(rt.Configs) > 0 {
		req.Configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return nil, &metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Null value not supported for topic configs: " + c.Name}
			}
			if _, dup := req.Configs[c.Name]; dup {
				return nil, &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Duplicate config key: " + c.Name}
			}
			if err := config.ValidateTopicConfig(c.Name, *c.Value); err != nil {
				return nil, err
			}
			req.Configs[c.Name] = *c.Value
		}
	}
	return h.deps.Meta.CreateTopic(req, validateOnly)
}
