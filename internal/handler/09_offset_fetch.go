package handler

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/group"
)

// OffsetFetch (API key 9): versions 0–9.
//
//	v1: offsets from __consumer_offsets (v0 meant ZooKeeper; served the same)
//	v2: top-level ErrorCode; null Topics fetches every committed partition
//	v3: ThrottleMillis
//	v5: LeaderEpoch (KIP-320)
//	v6: flexible versions
//	v7: RequireStable (KIP-447): a partition with transactional offsets
//	    waiting for their marker gets UNSTABLE_OFFSET_COMMIT
//	v8: batched Groups (KIP-709)
//	v9: MemberID/MemberEpoch for KIP-848 groups (ignored for classic groups)
//	v10: topic ids — not advertised
func (h *Handlers) offsetFetch(ctx context.Context, rc *RequestContext, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics map[string][]int32
			if rg.Topics != nil {
				topics = make(map[string][]int32)
				for _, t := range rg.Topics {
					topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
				}
			}
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			res, code := h.fetchGroupOffsets(ctx, rc, rg.Group, topics, req.RequireStable)
			g.ErrorCode = code
			for _, t := range res {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.Topic
				for _, p := range t.Partitions {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					gt.Partitions = append(gt.Partitions, gp)
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var topics map[string][]int32
	if req.Topics != nil || req.Version < 2 {
		topics = make(map[string][]int32)
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
	}
	res, code := h.fetchGroupOffsets(ctx, rc, req.Group, topics, req.Version >= 7 && req.RequireStable)
	if code != 0 && req.Version < 2 {
		// No top-level error code before v2: every partition carries it.
		res = requestedTopics(topics)
		for i := range res {
			for j := range res[i].Partitions {
				res[i].Partitions[j].ErrorCode = code
			}
		}
	}
	resp.ErrorCode = code
	resp.Topics = res
	return resp
}

// fetchGroupOffsets returns one group's offsets in the v0–v7 response shape
// and the group-level error code. topics nil means every committed
// partition; a requested partition without a commit gets offset -1.
func (h *Handlers) fetchGroupOffsets(ctx context.Context, rc *RequestContext, grp string, topics map[string][]int32, requireStable bool) ([]kmsg.OffsetFetchResponseTopic, int16) {
	gc, err := h.groups()
	var offsets map[group.TopicPartition]group.Offset
	var unstable map[group.TopicPartition]bool
	if err == nil {
		if requireStable {
			offsets, unstable, err = gc.FetchStableOffsets(ctx, grp, topics)
		} else {
			offsets, err = gc.FetchOffsets(ctx, grp, topics)
		}
	}
	if err != nil {
		h.logGroupError(ctx, rc, "offset fetch", grp, err)
		return nil, errorCode(err)
	}
	if topics == nil {
		topics = make(map[string][]int32)
		for tp := range offsets {
			topics[tp.Topic] = append(topics[tp.Topic], tp.Partition)
		}
	}
	res := requestedTopics(topics)
	for i := range res {
		for j := range res[i].Partitions {
			p := &res[i].Partitions[j]
			tp := group.TopicPartition{Topic: res[i].Topic, Partition: p.Partition}
			if unstable[tp] {
				p.ErrorCode = kerr.UnstableOffsetCommit.Code
				continue
			}
			if o, ok := offsets[tp]; ok {
				p.Offset, p.LeaderEpoch, p.Metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			}
		}
	}
	return res, 0
}

// requestedTopics lays out topics in a response, sorted, with every
// partition at offset -1.
func requestedTopics(topics map[string][]int32) []kmsg.OffsetFetchResponseTopic {
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	var out []kmsg.OffsetFetchResponseTopic
	for _, t := range names {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t
		ps := append([]int32(nil), topics[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, -1, -1, kmsg.StringPtr("")
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
