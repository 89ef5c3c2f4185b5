package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/metadata"
)

// BrokerRegistration (API key 62): versions 0–3. A broker registers with the
// active controller at start-up (KIP-631) and gets its broker epoch.
//
//	v1: IsMigratingZkBroker (ignored: there is no ZooKeeper)
//	v2: LogDirs (ignored: one directory)
//	v3: PreviousBrokerEpoch (ignored: every registration is a new incarnation)
//
// The listeners are the client listener (the first other than
// RaftListenerName) and, for brokers that are not voters, RaftListenerName:
// where the controller pushes the metadata log.
func (h *Handlers) brokerRegistration(_ context.Context, _ *RequestContext, req *kmsg.BrokerRegistrationRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	im := h.deps.Meta.Image()
	if req.ClusterID != im.ClusterID {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp
	}
	reg := metadata.BrokerRegistration{Broker: metadata.Broker{NodeID: req.BrokerID, Rack: req.Rack}}
	for _, l := range req.Listeners {
		if l.Name == RaftListenerName {
			reg.RaftAddr = joinHostPort(l.Host, int32(l.Port))
		} else if reg.Host == "" {
			reg.Host, reg.Port = l.Host, int32(l.Port)
		}
	}
	if reg.Host == "" || req.BrokerID < 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	epoch, err := h.deps.Meta.RegisterBroker(reg)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if isUnexpected(resp.ErrorCode) {
			h.logger().Error("broker registration", "broker", req.BrokerID, "err", err)
		}
		return resp
	}
	resp.BrokerEpoch = epoch
	return resp
}
