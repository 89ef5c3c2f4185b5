package handler

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
)

// DescribeConfigs (API key 32): versions 0–4.
//
//	v0: IsDefault per config
//	v1: IncludeSynonyms, Source replaces IsDefault (KIP-226)
//	v2: no change
//	v3: IncludeDocumentation, ConfigType (KIP-569)
//	v4: flexible versions
//
// Resources: topics (2) and this broker (4; the name is its node id, or
// empty for the cluster-wide dynamic defaults, of which Kavka has none).
// Sources reported: TOPIC_CONFIG (an override), STATIC_BROKER_CONFIG (set in
// the config file or with --set) and DEFAULT_CONFIG.
func (h *Handlers) describeConfigs(_ context.Context, _ *RequestContext, req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	cfg := h.brokerConfig()
	im := h.deps.Meta.Image()
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var entries []config.Entry
		switch r.ResourceType {
		case resourceTopic:
			if err := metadata.ValidateTopicName(r.ResourceName); err != nil {
				rr.ErrorCode, rr.ErrorMessage = kerr.InvalidTopicException.Code, strp(err.Error())
				break
			}
			t := im.Topic(r.ResourceName)
			if t == nil {
				rr.ErrorCode, rr.ErrorMessage = kerr.UnknownTopicOrPartition.Code, strp("Topic "+r.ResourceName+" does not exist.")
				break
			}
			entries = cfg.DescribeTopic(t.Configs)
		case resourceBroker:
			switch r.ResourceName {
			case "":
				// Cluster-wide dynamic defaults: none.
			case strconv.Itoa(int(cfg.NodeID)):
				entries = cfg.DescribeBroker()
			default:
				rr.ErrorCode = kerr.InvalidRequest.Code
				rr.ErrorMessage = strp("Unexpected broker id, expected " + strconv.Itoa(int(cfg.NodeID)) + " or empty string, but received " + r.ResourceName)
			}
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			rr.ErrorMessage = strp("Unsupported resource type " + strconv.Itoa(int(r.ResourceType)))
		}
		if rr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		var want map[string]bool
		if r.ConfigNames != nil {
			want = make(map[string]bool, len(r.ConfigNames))
			for _, n := range r.ConfigNames {
				want[n] = true
			}
		}
		rr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		for _, e := range entries {
			if want != nil && !want[e.Name] {
				continue
			}
			rr.Configs = append(rr.Configs, describeEntry(req, e))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

func describeEntry(req *kmsg.DescribeConfigsRequest, e config.Entry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefaultConfig
	if req.Version >= 1 && req.IncludeSynonyms {
		c.ConfigSynonyms = make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, len(e.Synonyms))
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
			if e.Sensitive {
				cs.Value = nil
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if req.Version >= 3 {
		c.ConfigType = kmsg.ConfigType(e.Type)
		if req.IncludeDocumentation {
			c.Documentation = strp(e.Doc)
		}
	}
	return c
}
