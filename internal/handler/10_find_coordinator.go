package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/group"
)

// FindCoordinator (API key 10): versions 0–4.
//
//	v1: CoordinatorType (0 group, 1 transaction), ThrottleMillis, ErrorMessage
//	v2: no change
//	v3: flexible versions
//	v4: batched CoordinatorKeys (KIP-699)
//	v5: TRANSACTION_ABORTABLE (KIP-890), v6: share groups (KIP-932) — not advertised
//
// A group key loads the __consumer_offsets partition that owns it first
// (creating the topic on first use, as Kafka does), so that a client only
// learns of a coordinator that can serve. A transactional id loads its
// __transaction_state partition the same way (dispatch_txn.go).
func (h *Handlers) findCoordinator(ctx context.Context, rc *RequestContext, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		var node int32
		node, c.ErrorCode = h.findOne(ctx, rc, req.CoordinatorType, key)
		if c.ErrorCode == 0 && node != h.deps.NodeID {
			if b := h.deps.Image().Broker(node); b != nil {
				c.NodeID, c.Host, c.Port = node, b.Host, b.Port
			} else {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		} else if c.ErrorCode == 0 {
			c.NodeID = h.deps.NodeID
			c.Host, c.Port = h.advertised()
		}
		if c.ErrorCode != 0 {
			c.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(c.ErrorCode).Error())
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return resp
}

// findOne returns the coordinator of key: the leader of the internal
// topic partition that owns it. Another broker's partition is answered
// with that broker; this broker's is loaded first.
func (h *Handlers) findOne(ctx context.Context, rc *RequestContext, keyType int8, key string) (int32, int16) {
	switch keyType {
	case 0:
	case 1:
		return h.findTxnCoordinator(ctx, key)
	default:
		return -1, kerr.InvalidRequest.Code
	}
	gc, err := h.groups()
	if err != nil {
		h.logGroupError(ctx, rc, "find coordinator", key, err)
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	p := gc.PartitionFor(key)
	if node, ok := h.internalLeader(group.TopicName, p); ok {
		return node, 0
	}
	if err := gc.Load(ctx, key); err != nil {
		if node, ok := h.internalLeader(group.TopicName, p); ok { // created just now, led elsewhere
			return node, 0
		}
		h.logGroupError(ctx, rc, "find coordinator", key, err)
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	return h.deps.NodeID, 0
}

// internalLeader reports the leader of partition p of an internal topic
// when it is another live broker (ok), so that FindCoordinator can name it
// without loading anything here.
func (h *Handlers) internalLeader(topic string, p int32) (int32, bool) {
	if h.deps.Image == nil {
		return -1, false
	}
	im := h.deps.Image()
	t := im.Topic(topic)
	if t == nil || int(p) >= len(t.Partitions) {
		return -1, false
	}
	l := t.Partitions[p].Leader
	if l < 0 || l == h.deps.NodeID || im.Broker(l) == nil {
		return -1, false
	}
	return l, true
}

// advertised returns the host and port clients reach this broker at.
func (h *Handlers) advertised() (string, int32) {
	if h.deps.Image != nil {
		if b := h.deps.Image().Broker(h.deps.NodeID); b != nil {
			return b.Host, b.Port
		}
	}
	if h.deps.Config != nil {
		return h.deps.Config.AdvertisedHostPort()
	}
	d := config.Defaults()
	return d.AdvertisedHostPort()
}
