package handler

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// ConsumerGroupHeartbeat (API key 68): versions 0–1 (KIP-848, the broker
// assigns partitions).
//
//	v0: the coordinator generated member ids (never served by Kafka ≥ 4.0)
//	v1: the client generates its member id; SubscribedTopicRegex
//
// MemberEpoch 0 joins, -1 leaves, -2 leaves a static member for now. Nil
// fields mean "unchanged"; the response carries the assignment when it
// changed or the request was a full one. The answer is sent once the
// group's changes are durable.
func (h *Handlers) consumerGroupHeartbeat(ctx context.Context, rc *RequestContext, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	hr := group.ConsumerHeartbeatRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		MemberEpoch:          req.MemberEpoch,
		InstanceID:           req.InstanceID,
		RackID:               req.RackID,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		SubscribedTopicNames: req.SubscribedTopicNames,
		SubscribedTopicRegex: req.SubscribedTopicRegex,
		ServerAssignor:       req.ServerAssignor,
		ClientID:             groupDeref(rc.Header.ClientID),
		ClientHost:           clientHost(rc.Peer),
	}
	if req.RebalanceTimeoutMillis < 0 {
		hr.RebalanceTimeout = -1
	}
	if req.Topics != nil {
		hr.Topics = make([]group.TopicPartitions, 0, len(req.Topics))
		for _, t := range req.Topics {
			hr.Topics = append(hr.Topics, group.TopicPartitions{TopicID: t.TopicID, Partitions: t.Partitions})
		}
	}
	r := gc.ConsumerGroupHeartbeat(ctx, hr)
	if r.Err != nil {
		resp.ErrorCode = errorCode(r.Err)
		resp.ErrorMessage = errorMessage(r.Err)
		h.logGroupError(ctx, rc, "consumer group heartbeat", req.Group, r.Err)
		return resp
	}
	resp.MemberID = &r.MemberID
	resp.MemberEpoch = r.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(r.HeartbeatInterval.Milliseconds())
	if r.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = make([]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic, 0, len(r.Assignment))
		for _, t := range r.Assignment {
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = t.TopicID, t.Partitions
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
	return resp
}
