package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// BrokerHeartbeat (API key 63): versions 0–1. A registered broker heartbeats
// to the active controller (KIP-631): missing heartbeats for
// broker.session.timeout.ms fence it; a heartbeat that shows it caught up
// with its registration unfences it; WantShutdown starts a controlled
// shutdown (leaderships moved away first; ShouldShutdown once done); a
// broker that lists an offline log directory has every replica taken
// offline (KIP-858; a Kavka broker has one directory, so any listed
// directory is all of them).
//
//	v1: OfflineLogDirs (tagged)
func (h *Handlers) brokerHeartbeat(_ context.Context, _ *RequestContext, req *kmsg.BrokerHeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	res, err := h.deps.Meta.BrokerHeartbeat(metadata.Heartbeat{
		NodeID: req.BrokerID, Epoch: req.BrokerEpoch, MetadataOffset: req.CurrentMetadataOffset,
		WantFence: req.WantFence, WantShutdown: req.WantShutdown, LogDirOffline: len(req.OfflineLogDirs) > 0,
	})
	if err != nil {
		resp.ErrorCode = errorCode(err)
		resp.IsFenced = true
		if isUnexpected(resp.ErrorCode) {
			h.logger().Error("broker heartbeat", "broker", req.BrokerID, "err", err)
		}
		return resp
	}
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutdown
	return resp
}
