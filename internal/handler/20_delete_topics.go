package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// DeleteTopics (API key 20): versions 0–6.
//
//	v1: ThrottleMillis
//	v4: flexible versions
//	v5: ErrorMessage (KIP-599)
//	v6: topics by name or by id (KIP-516); the response carries both
//
// Deletion is synchronous: the topic is gone from the metadata, and its
// logs are scheduled for removal, when the response is sent.
func (h *Handlers) deleteTopics(_ context.Context, rc *RequestContext, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for i := range req.TopicNames {
			targets = append(targets, target{name: &req.TopicNames[i]})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	names := make(map[string]int)
	ids := make(map[[16]byte]int)
	for _, t := range targets {
		if t.name != nil {
			names[*t.name]++
		} else {
			ids[t.id]++
		}
	}
	enabled := h.brokerConfig().DeleteTopicEnable
	for _, t := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		var (
			err  error
			byID = t.name == nil
		)
		switch {
		case t.name != nil && t.id != [16]byte{}:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, strp("Topic name and topic id cannot both be set.")
		case byID && t.id == [16]byte{}:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, strp("Neither topic name nor id was set.")
		case !byID && names[*t.name] > 1, byID && ids[t.id] > 1:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, strp("Duplicate topic in request.")
		case !enabled:
			err = errTopicDeletionDisabled
		case byID:
			var name string
			if name, err = h.deps.Meta.DeleteTopicByID(t.id); err == nil {
				st.Topic = strp(name)
			}
		default:
			if tp := h.deps.Meta.Image().Topic(*t.name); tp != nil {
				st.TopicID = tp.ID
			}
			err = h.deps.Meta.DeleteTopic(*t.name)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = h.metaError(err, byID, "delete topic")
		} else if st.ErrorCode == 0 {
			h.logger().Info("deleted topic", "topic", *st.Topic, "id", metadata.IDString(st.TopicID), "peer", rc.Peer)
		}
		if req.Version < 5 {
			st.ErrorMessage = nil
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
