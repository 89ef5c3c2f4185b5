package handler

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// AlterConfigs (API key 33): versions 0–2.
//
//	v1: no change (throttling)
//	v2: flexible versions
//
// For a topic the configs given replace all of its overrides (keys not
// given return to their defaults), as in Kafka. Broker configs are static in
// Kavka: altering one is INVALID_REQUEST (use the config file or --set).
func (h *Handlers) alterConfigs(_ context.Context, rc *RequestContext, req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	seen := map[[2]string]int{}
	for _, r := range req.Resources {
		seen[[2]string{strconv.Itoa(int(r.ResourceType)), r.ResourceName}]++
	}
	for _, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		if seen[[2]string{strconv.Itoa(int(r.ResourceType)), r.ResourceName}] > 1 {
			rr.ErrorCode, rr.ErrorMessage = kerr.InvalidRequest.Code, strp("Duplicate resource in request.")
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		switch r.ResourceType {
		case resourceTopic:
			configs := make(map[string]string, len(r.Configs))
			var err error
			for _, c := range r.Configs {
				if _, dup := configs[c.Name]; dup {
					err = &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Error due to duplicate config keys"}
					break
				}
				if c.Value == nil {
					err = &metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Null value not supported for topic configs: " + c.Name}
					break
				}
				configs[c.Name] = *c.Value
			}
			if err == nil {
				err = h.setTopicConfigs(rc, r.ResourceName, configs, req.ValidateOnly)
			}
			rr.ErrorCode, rr.ErrorMessage = h.metaError(err, false, "alter configs "+r.ResourceName)
		case resourceBroker:
			rr.ErrorCode, rr.ErrorMessage = h.brokerAlterError(r.ResourceName)
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			rr.ErrorMessage = strp("Unsupported resource type " + strconv.Itoa(int(r.ResourceType)))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// setTopicConfigs replaces a topic's overrides after validating the name.
func (h *Handlers) setTopicConfigs(rc *RequestContext, topic string, configs map[string]string, validateOnly bool) error {
	if err := metadata.ValidateTopicName(topic); err != nil {
		return err
	}
	for k, v := range configs {
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return err
		}
	}
	if err := h.deps.Meta.SetTopicConfigs(topic, configs, validateOnly); err != nil {
		return err
	}
	if !validateOnly {
		h.logger().Info("altered topic configs", "topic", topic, "overrides", len(configs), "peer", rc.Peer)
	}
	return nil
}

// brokerAlterError is the answer to altering broker configs, which are
// static in Kavka.
func (h *Handlers) brokerAlterError(name string) (int16, *string) {
	if id := strconv.Itoa(int(h.brokerConfig().NodeID)); name != "" && name != id {
		return kerr.InvalidRequest.Code, strp("Unexpected broker id, expected " + id + " or empty string, but received " + name)
	}
	return kerr.InvalidRequest.Code, strp("Kavka broker configs are static; set them in the config file or with --set and restart.")
}
