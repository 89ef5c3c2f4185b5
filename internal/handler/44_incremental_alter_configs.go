package handler

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// IncrementalAlterConfigs (API key 44): versions 0–1.
//
//	v0: SET, DELETE, APPEND, SUBTRACT per key (KIP-339); APPEND and
//	    SUBTRACT only for list configs (cleanup.policy)
//	v1: flexible versions
//
// Broker configs are static in Kavka (INVALID_REQUEST), as in AlterConfigs.
func (h *Handlers) incrementalAlterConfigs(_ context.Context, rc *RequestContext, req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	keys := make([]resourceKey, len(req.Resources))
	for i, r := range req.Resources {
		keys[i] = resourceKey{r.ResourceType, r.ResourceName}
	}
	alterTopic := func(i int) error { return h.incrementalTopic(rc, req.Resources[i], req.ValidateOnly) }
	for i, res := range h.alterConfigResults(keys, alterTopic, "incremental alter configs") {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = keys[i].typ, keys[i].name
		rr.ErrorCode, rr.ErrorMessage = res.code, res.msg
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func (h *Handlers) incrementalTopic(rc *RequestContext, r kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if err := metadata.ValidateTopicName(r.ResourceName); err != nil {
		return err
	}
	t := h.deps.Meta.Image().Topic(r.ResourceName)
	if t == nil {
		return &metadata.Error{Kind: metadata.ErrUnknownTopic, Msg: "The topic '" + r.ResourceName + "' does not exist."}
	}
	cfg := h.brokerConfig()
	configs := maps.Clone(t.Configs)
	if configs == nil {
		configs = map[string]string{}
	}
	keys := make(map[string]bool, len(r.Configs))
	for _, c := range r.Configs {
		if keys[c.Name] {
			return &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Error due to duplicate config keys"}
		}
		keys[c.Name] = true
		d, known := config.Lookup(config.ScopeTopic, c.Name)
		if !known {
			return &metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Unknown topic config name: " + c.Name}
		}
		if c.Op != kmsg.IncrementalAlterConfigOpDelete && c.Value == nil {
			return &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Null value not supported for : " + c.Name}
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			configs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != config.TypeList {
				verb := "append"
				if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
					verb = "subtract"
				}
				return &metadata.Error{Kind: metadata.ErrInvalidConfig, Msg: "Config value " + verb + " is not allowed for config key: " + c.Name}
			}
			cur, ok := configs[c.Name]
			if !ok {
				cur = currentValue(cfg, t.Configs, c.Name)
			}
			list := splitList(cur)
			for _, v := range splitList(*c.Value) {
				has := slices.Contains(list, v)
				switch {
				case c.Op == kmsg.IncrementalAlterConfigOpAppend && !has:
					list = append(list, v)
				case c.Op == kmsg.IncrementalAlterConfigOpSubtract && has:
					list = slices.DeleteFunc(list, func(e string) bool { return e == v })
				}
			}
			configs[c.Name] = strings.Join(list, ",")
		default:
			return &metadata.Error{Kind: metadata.ErrInvalidRequest, Msg: "Unknown alter config operation " + strconv.Itoa(int(c.Op))}
		}
	}
	return h.setTopicConfigs(rc, r.ResourceName, configs, validateOnly)
}

// currentValue is the effective value of a topic key (override or default).
func currentValue(cfg *config.Broker, overrides map[string]string, name string) string {
	for _, e := range cfg.DescribeTopic(overrides) {
		if e.Name == name && e.Value != nil {
			return *e.Value
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
