package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

// OffsetDelete (API key 47): version 0 (KIP-496).
//
// Deletes committed offsets of partitions the group does not consume: a
// group with members answers GROUP_SUBSCRIBED_TO_TOPIC for the topics its
// members subscribe to.
func (h *Handlers) offsetDelete(ctx context.Context, rc *RequestContext, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	gc, err := h.groups()
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	var im *metadata.Image
	if h.deps.Image != nil {
		im = h.deps.Image()
	}
	var tps []group.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if partitionExists(im, t.Topic, p.Partition) {
				tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			}
		}
	}
	errs, err := gc.DeleteOffsets(ctx, req.Group, tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		h.logGroupError(ctx, rc, "offset delete", req.Group, err)
		return resp
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if e, ok := errs[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]; ok {
				rp.ErrorCode = errorCode(e)
			} else {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
