package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (API key 60): versions 0–2.
//
//	v0: brokers, cluster id, controller id (KIP-700)
//	v1: EndpointType (KIP-919): brokers (1) only; asking a broker for
//	    controllers (2) is UNSUPPORTED_ENDPOINT_TYPE, as in Kafka
//	v2: IncludeFencedBrokers, IsFenced (KIP-1073): registered brokers that
//	    are fenced or shutting down (cluster mode)
//
// ClusterAuthorizedOperations stays at Kafka's "not requested" default
// (Kavka has no authorizer yet).
func (h *Handlers) describeCluster(_ context.Context, _ *RequestContext, req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = strp("The broker only handles broker endpoint requests.")
		return resp
	}
	im := h.deps.Meta.Image()
	cfg := h.brokerConfig()
	resp.ClusterID, resp.ControllerID = im.ClusterID, im.ControllerID
	for _, b := range im.Brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.NodeID, b.Host, b.Port, b.Rack
		if b.NodeID == cfg.NodeID && h.deps.Config != nil {
			rb.Host, rb.Port = cfg.AdvertisedHostPort()
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	if req.IncludeFencedBrokers {
		for _, r := range im.Registrations {
			if im.Live(r.NodeID) || im.Broker(r.NodeID) != nil {
				continue
			}
			rb := kmsg.NewDescribeClusterResponseBroker()
			rb.NodeID, rb.Host, rb.Port, rb.Rack, rb.IsFenced = r.NodeID, r.Host, r.Port, r.Rack, true
			resp.Brokers = append(resp.Brokers, rb)
		}
	}
	return resp
}
