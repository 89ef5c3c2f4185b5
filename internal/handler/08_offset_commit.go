package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
	"github.com/kavka-io/kavka/internal/metadata"
)

// OffsetCommit (API key 8): versions 0–9.
//
//	v1: Generation, MemberID; per-partition Timestamp (ignored, as in Kafka ≥ 2.1)
//	v2: RetentionTimeMillis (ignored: offsets.retention.minutes rules, KIP-211)
//	v3: ThrottleMillis
//	v5: RetentionTimeMillis removed
//	v6: LeaderEpoch (KIP-320)
//	v7: GroupInstanceID (KIP-345)
//	v8: flexible versions
//	v9: member epoch for KIP-848 groups; classic groups send their generation
//	v10: topic ids (KIP-848) — not advertised
//
// The response is sent only once the commit is durable in __consumer_offsets.
func (h *Handlers) offsetCommit(ctx context.Context, rc *RequestContext, req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	var im *metadata.Image
	if h.deps.Image != nil {
		im = h.deps.Image()
	}
	cr := group.CommitRequest{
		Group:      req.Group,
		MemberID:   req.MemberID,
		InstanceID: groupDeref(req.InstanceID),
		Generation: req.Generation,
		Offsets:    make(map[group.TopicPartition]group.Offset),
	}
	if req.Version == 0 {
		cr.Generation = -1
	}
	unknown := make(map[group.TopicPartition]bool)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := group.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if !partitionExists(im, t.Topic, p.Partition) {
				unknown[tp] = true
				continue
			}
			o := group.Offset{Offset: p.Offset, LeaderEpoch: -1, Metadata: groupDeref(p.Metadata)}
			if req.Version >= 6 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			cr.Offsets[tp] = o
		}
	}
	var errs map[group.TopicPartition]error
	gc, err := h.groups()
	if err == nil && len(cr.Offsets) > 0 {
		errs, err = gc.CommitOffsets(ctx, cr)
	}
	if err != nil {
		h.logGroupError(ctx, rc, "offset commit", req.Group, err)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			tp := group.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			switch {
			case unknown[tp]:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case err != nil:
				rp.ErrorCode = errorCode(err)
			default:
				rp.ErrorCode = errorCode(errs[tp])
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// partitionExists reports whether the image has the partition; without an
// image every partition exists.
func partitionExists(im *metadata.Image, topic string, partition int32) bool {
	if im == nil {
		return true
	}
	t := im.Topic(topic)
	return t != nil && partition >= 0 && int(partition) < len(t.Partitions)
}
