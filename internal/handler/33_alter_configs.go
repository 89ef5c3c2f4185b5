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
	keys := make([]resourceKey, len(req.Resources))
	for i, r := range req.Resources {
		keys[i] = resourceKey{r.ResourceType, r.ResourceName}
	}
	alterTopic := func(i int) error { return h.replaceTopicConfigs(rc, &req.Resources[i], req.ValidateOnly) }
	for i, res := range h.alterConfigResults(keys, alterTopic, "alter configs") {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = keys[i].typ, keys[i].name
		rr.ErrorCode, rr.ErrorMessage = res.code, res.msg
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// replaceTopicConfigs makes r's configs the topic's overrides.
func (h *Handlers) replaceTopicConfigs(rc *RequestContext, r *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	configs := make(map[string]string, len(r.Configs))
	for _, c := range r.Configs {
		if _, dup := configs[c.Name]; dup {
			return &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Error due to duplicate config keys"}
		}
		if c.Value == nil {
			return &metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Null value not supported for topic configs: " + c.Name}
		}
		configs[c.Name] = *c.Value
	}
	return h.setTopicConfigs(rc, r.ResourceName, configs, validateOnly)
}

// resourceKey names a config resource of a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// resourceResult is the answer for one resource: an error code and message.
type resourceResult struct {
	code int16
	msg  *string
}

// alterConfigResults answers, in request order, the resources keys of an
// AlterConfigs or IncrementalAlterConfigs request: a resource named twice
// is INVALID_REQUEST (as in Kafka), broker configs are static
// (brokerAlterError), other types are unsupported, and alterTopic(i)
// changes the configs of topic i. what names the request in the log.
func (h *Handlers) alterConfigResults(keys []resourceKey, alterTopic func(i int) error, what string) []resourceResult {
	seen := make(map[resourceKey]int, len(keys))
	for _, k := range keys {
		seen[k]++
	}
	out := make([]resourceResult, len(keys))
	for i, k := range keys {
		res := &out[i]
		switch {
		case seen[k] > 1:
			res.code, res.msg = kerr.InvalidRequest.Code, strp("Duplicate resource in request.")
		case k.typ == resourceTopic:
			res.code, res.msg = h.metaError(alterTopic(i), false, what+" "+k.name)
		case k.typ == resourceBroker:
			res.code, res.msg = h.brokerAlterError(k.name)
		default:
			res.code, res.msg = kerr.InvalidRequest.Code, strp("Unsupported resource type "+strconv.Itoa(int(k.typ)))
		}
	}
	return out
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
