package handler

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/vfs"
)

type seededRand struct{ r *rand.Rand }

func (s seededRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

// newAdmin returns Handlers over a fresh in-memory metadata store. mod may
// change the broker config first.
func newAdmin(t *testing.T, mod func(c *config.Broker)) (*Handlers, *metadata.Store) {
	t.Helper()
	cfg := config.Defaults()
	if err := cfg.Set("advertised.listeners", "PLAINTEXT://broker.test:19092"); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	host, port := cfg.AdvertisedHostPort()
	meta, err := metadata.Open(vfs.NewMem(), "/data", metadata.Options{
		Self:      metadata.Broker{NodeID: cfg.NodeID, Host: host, Port: port},
		ClusterID: "test-cluster", Config: &cfg, Rand: seededRand{rand.New(rand.NewPCG(1, 2))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	return New(Deps{NodeID: cfg.NodeID, Meta: meta, Config: &cfg}), meta
}

// call runs req at version v and returns the response, after checking that
// the response encodes and decodes at that version.
func call[R kmsg.Response](t *testing.T, h *Handlers, v int16, req kmsg.Request) R {
	t.Helper()
	req.SetVersion(v)
	// Round-trip the request through the wire format, as the server does.
	dec := kmsg.RequestForKey(req.Key())
	dec.SetVersion(v)
	if err := dec.ReadFrom(req.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", req, v, err)
	}
	resp := h.Handle(context.Background(), &RequestContext{Peer: "test"}, dec)
	if resp.GetVersion() != v {
		t.Fatalf("response version %d, want %d", resp.GetVersion(), v)
	}
	back := dec.ResponseKind()
	back.SetVersion(v)
	if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", resp, v, err)
	}
	return back.(R)
}

func createReq(names ...string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, n := range names {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = n, 2, 1
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func TestMetadata(t *testing.T) {
	h, meta := newAdmin(t, nil)
	if _, err := meta.CreateTopic(metadata.CreateTopicRequest{Name: "a", Partitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.CreateTopic(metadata.CreateTopicRequest{Name: "__consumer_offsets", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	aID := meta.Image().Topic("a").ID
	for v := int16(0); v <= 13; v++ {
		// All topics: v0 empty list, v1+ null list.
		req := kmsg.NewPtrMetadataRequest()
		if v == 0 {
			req.Topics = []kmsg.MetadataRequestTopic{}
		}
		resp := call[*kmsg.MetadataResponse](t, h, v, req)
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != "broker.test" || resp.Brokers[0].Port != 19092 || resp.Brokers[0].NodeID != 1 {
			t.Errorf("v%d brokers = %+v", v, resp.Brokers)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID != "test-cluster") {
			t.Errorf("v%d cluster id = %v", v, resp.ClusterID)
		}
		if v >= 1 && resp.ControllerID != 1 {
			t.Errorf("v%d controller = %d", v, resp.ControllerID)
		}
		if len(resp.Topics) != 2 || *resp.Topics[0].Topic != "__consumer_offsets" || *resp.Topics[1].Topic != "a" {
			t.Fatalf("v%d topics = %+v", v, resp.Topics)
		}
		if v >= 1 && !resp.Topics[0].IsInternal {
			t.Errorf("v%d: __consumer_offsets not internal", v)
		}
		a := resp.Topics[1]
		if len(a.Partitions) != 3 || a.Partitions[2].Partition != 2 || a.Partitions[2].Leader != 1 ||
			!cmp.Equal(a.Partitions[2].Replicas, []int32{1}) || !cmp.Equal(a.Partitions[2].ISR, []int32{1}) {
			t.Errorf("v%d partitions = %+v", v, a.Partitions)
		}
		if v >= 10 && a.TopicID != aID {
			t.Errorf("v%d topic id = %x, want %x", v, a.TopicID, aID)
		}
		if v >= 8 && a.AuthorizedOperations != -2147483648 {
			t.Errorf("v%d authorized operations = %d", v, a.AuthorizedOperations)
		}
		if v >= 1 {
			// An empty list means no topics.
			req := kmsg.NewPtrMetadataRequest()
			req.Topics = []kmsg.MetadataRequestTopic{}
			if resp := call[*kmsg.MetadataResponse](t, h, v, req); len(resp.Topics) != 0 {
				t.Errorf("v%d empty list: %d topics", v, len(resp.Topics))
			}
		}
	}
}

func TestMetadataNamedAndAutoCreate(t *testing.T) {
	topicReq := func(allow bool, names ...string) *kmsg.MetadataRequest {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = allow
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	codes := func(resp *kmsg.MetadataResponse) []int16 {
		var out []int16
		for _, t := range resp.Topics {
			out = append(out, t.ErrorCode)
		}
		return out
	}
	h, meta := newAdmin(t, nil)
	// v4+ without AllowAutoTopicCreation: unknown.
	resp := call[*kmsg.MetadataResponse](t, h, 12, topicReq(false, "new", "bad name", "__transaction_state"))
	want := []int16{kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, kerr.UnknownTopicOrPartition.Code}
	if diff := cmp.Diff(want, codes(resp)); diff != "" {
		t.Errorf("no auto-create (-want +got):\n%s", diff)
	}
	// Allowed: created with the defaults and returned at once.
	resp = call[*kmsg.MetadataResponse](t, h, 12, topicReq(true, "new", "new", ".."))
	want = []int16{0, kerr.InvalidTopicException.Code} // each topic once
	if diff := cmp.Diff(want, codes(resp)); diff != "" {
		t.Errorf("auto-create (-want +got):\n%s", diff)
	}
	if len(resp.Topics[0].Partitions) != 1 || meta.Image().Topic("new") == nil {
		t.Errorf("auto-created topic: %+v", resp.Topics[0])
	}
	// v3 always allows; auto.create.topics.enable=false forbids.
	if resp := call[*kmsg.MetadataResponse](t, h, 3, topicReq(false, "v3")); resp.Topics[0].ErrorCode != 0 {
		t.Errorf("v3 auto-create: %v", codes(resp))
	}
	h2, _ := newAdmin(t, func(c *config.Broker) { c.Set("auto.create.topics.enable", "false") })
	if resp := call[*kmsg.MetadataResponse](t, h2, 12, topicReq(true, "x")); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("auto-create disabled: %v", codes(resp))
	}
	// By id (v10+).
	id := meta.Image().Topic("new").ID
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{{TopicID: id}, {TopicID: [16]byte{1}}}
	resp = call[*kmsg.MetadataResponse](t, h, 12, req)
	if resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "new" || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[1].TopicID != [16]byte{1} {
		t.Errorf("by id: %+v", resp.Topics)
	}
}

func TestCreateTopics(t *testing.T) {
	h, meta := newAdmin(t, nil)
	for v := int16(0); v <= 7; v++ {
		name := "t" + string(rune('0'+v))
		req := createReq(name)
		req.Topics[0].Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}
		resp := call[*kmsg.CreateTopicsResponse](t, h, v, req)
		st := resp.Topics[0]
		if st.ErrorCode != 0 || st.Topic != name {
			t.Fatalf("v%d: %+v", v, st)
		}
		tp := meta.Image().Topic(name)
		if tp == nil || len(tp.Partitions) != 2 || tp.Configs["retention.ms"] != "1000" {
			t.Fatalf("v%d: created %+v", v, tp)
		}
		if v >= 5 {
			if st.NumPartitions != 2 || st.ReplicationFactor != 1 || len(st.Configs) != len(config.TopicDefs()) {
				t.Errorf("v%d: resolved %d/%d, %d configs", v, st.NumPartitions, st.ReplicationFactor, len(st.Configs))
			}
			for _, c := range st.Configs {
				if c.Name == "retention.ms" && (*c.Value != "1000" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig)) {
					t.Errorf("v%d: retention.ms = %v source %d", v, *c.Value, c.Source)
				}
			}
		}
		if v >= 7 && st.TopicID != tp.ID {
			t.Errorf("v%d: topic id %x, want %x", v, st.TopicID, tp.ID)
		}
	}
}

func TestCreateTopicsErrors(t *testing.T) {
	h, meta := newAdmin(t, nil)
	call[*kmsg.CreateTopicsResponse](t, h, 7, createReq("exists"))
	f := func(mod func(rt *kmsg.CreateTopicsRequestTopic), code int16, msg string) {
		t.Helper()
		req := createReq("x")
		mod(&req.Topics[0])
		resp := call[*kmsg.CreateTopicsResponse](t, h, 7, req)
		st := resp.Topics[0]
		if st.ErrorCode != code {
			t.Errorf("code %s, want %s (%v)", kerr.ErrorForCode(st.ErrorCode), kerr.ErrorForCode(code), st.ErrorMessage)
			return
		}
		if st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, msg) {
			t.Errorf("message %v, want it to contain %q", st.ErrorMessage, msg)
		}
		if st.NumPartitions != -1 || st.ReplicationFactor != -1 {
			t.Errorf("error response has %d partitions, rf %d", st.NumPartitions, st.ReplicationFactor)
		}
	}
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = "exists" }, kerr.TopicAlreadyExists.Code, "already exists")
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = "a/b" }, kerr.InvalidTopicException.Code, "illegal")
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = "" }, kerr.InvalidTopicException.Code, "empty")
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions = 0 }, kerr.InvalidPartitions.Code, "partitions")
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions = 1 << 30 }, kerr.PolicyViolation.Code, "limit")
	f(func(rt *kmsg.CreateTopicsRequestTopic) { rt.ReplicationFactor = 3 }, kerr.InvalidReplicationFactor.Code, "only 1 broker")
	f(func(rt *kmsg.CreateTopicsRequestTopic) {
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("1")}}
	}, kerr.InvalidConfig.Code, "Invalid value 1 for configuration segment.bytes: Value must be at least 14")
	f(func(rt *kmsg.CreateTopicsRequestTopic) {
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "bogus", Value: kmsg.StringPtr("1")}}
	}, kerr.InvalidConfig.Code, "Unknown topic config name: bogus")
	f(func(rt *kmsg.CreateTopicsRequestTopic) {
		rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	}, kerr.InvalidConfig.Code, "Null value")
	f(func(rt *kmsg.CreateTopicsRequestTopic) {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{2}}}
	}, kerr.InvalidReplicaAssignment.Code, "broker 2")
	f(func(rt *kmsg.CreateTopicsRequestTopic) {
		rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
	}, kerr.InvalidRequest.Code, "Both")

	// Duplicates in one request, and validate-only.
	req := createReq("dup", "dup", "v")
	req.ValidateOnly = true
	resp := call[*kmsg.CreateTopicsResponse](t, h, 7, req)
	if resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code || resp.Topics[1].ErrorCode != kerr.InvalidRequest.Code || resp.Topics[2].ErrorCode != 0 || resp.Topics[2].NumPartitions != 2 {
		t.Errorf("duplicates / validate-only: %+v", resp.Topics)
	}
	if got := meta.Image().TopicNames(); !cmp.Equal(got, []string{"exists"}) {
		t.Errorf("topics after failures = %v", got)
	}
	// v0 has no error messages.
	if resp := call[*kmsg.CreateTopicsResponse](t, h, 0, createReq("exists")); resp.Topics[0].ErrorCode != kerr.TopicAlreadyExists.Code || resp.Topics[0].ErrorMessage != nil {
		t.Errorf("v0: %+v", resp.Topics[0])
	}
}

func TestDeleteTopics(t *testing.T) {
	h, meta := newAdmin(t, nil)
	call[*kmsg.CreateTopicsResponse](t, h, 7, createReq("a", "b", "c"))
	bID := meta.Image().Topic("b").ID
	// By name, v0–5.
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{"a", "nope"}
	resp := call[*kmsg.DeleteTopicsResponse](t, h, 5, req)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].ErrorMessage == nil {
		t.Errorf("v5: %+v", resp.Topics)
	}
	// By id and name, v6.
	req = kmsg.NewPtrDeleteTopicsRequest()
	req.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: bID}, {TopicID: [16]byte{9}}, {Topic: kmsg.StringPtr("c")}, {Topic: kmsg.StringPtr("x"), TopicID: [16]byte{1}}}
	resp = call[*kmsg.DeleteTopicsResponse](t, h, 6, req)
	got := []int16{resp.Topics[0].ErrorCode, resp.Topics[1].ErrorCode, resp.Topics[2].ErrorCode, resp.Topics[3].ErrorCode}
	if diff := cmp.Diff([]int16{0, kerr.UnknownTopicID.Code, 0, kerr.InvalidRequest.Code}, got); diff != "" {
		t.Errorf("v6 codes (-want +got):\n%s", diff)
	}
	if resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "b" {
		t.Errorf("v6 by id: name %v", resp.Topics[0].Topic)
	}
	if len(meta.Image().Topics) != 0 {
		t.Errorf("topics left: %v", meta.Image().TopicNames())
	}
	// delete.topic.enable=false.
	h2, meta2 := newAdmin(t, func(c *config.Broker) { c.Set("delete.topic.enable", "false") })
	call[*kmsg.CreateTopicsResponse](t, h2, 7, createReq("a"))
	req = kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{"a"}
	if resp := call[*kmsg.DeleteTopicsResponse](t, h2, 4, req); resp.Topics[0].ErrorCode != kerr.TopicDeletionDisabled.Code || meta2.Image().Topic("a") == nil {
		t.Errorf("deletion disabled: %+v", resp.Topics)
	}
}

func TestCreatePartitions(t *testing.T) {
	h, meta := newAdmin(t, nil)
	call[*kmsg.CreateTopicsResponse](t, h, 7, createReq("a"))
	f := func(v int16, topic string, count int32, asg [][]int32, validate bool, code int16) {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.ValidateOnly = validate
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, r := range asg {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: r})
		}
		req.Topics = append(req.Topics, rt)
		resp := call[*kmsg.CreatePartitionsResponse](t, h, v, req)
		if c := resp.Topics[0].ErrorCode; c != code {
			t.Errorf("CreatePartitions(%s, %d): %s (%v), want %s", topic, count, kerr.ErrorForCode(c), resp.Topics[0].ErrorMessage, kerr.ErrorForCode(code))
		}
	}
	f(0, "a", 3, nil, true, 0)
	f(1, "a", 1, nil, false, kerr.InvalidPartitions.Code)
	f(2, "nope", 3, nil, false, kerr.UnknownTopicOrPartition.Code)
	f(3, "a", 4, [][]int32{{1}}, false, kerr.InvalidReplicaAssignment.Code)
	f(3, "a", 3, [][]int32{{5}}, false, kerr.InvalidReplicaAssignment.Code)
	if n := len(meta.Image().Topic("a").Partitions); n != 2 {
		t.Fatalf("partitions after failures/validate-only = %d", n)
	}
	f(3, "a", 4, [][]int32{{1}, {1}}, false, 0)
	if n := len(meta.Image().Topic("a").Partitions); n != 4 {
		t.Errorf("partitions = %d, want 4", n)
	}
}

func describeReq(typ kmsg.ConfigResourceType, name string, keys ...string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	r.ConfigNames = keys
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	return req
}

func TestDescribeConfigs(t *testing.T) {
	h, _ := newAdmin(t, func(c *config.Broker) { c.Set("log.retention.hours", "2") })
	req := createReq("a")
	req.Topics[0].Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("4096")}}
	call[*kmsg.CreateTopicsResponse](t, h, 7, req)
	for v := int16(0); v <= 4; v++ {
		resp := call[*kmsg.DescribeConfigsResponse](t, h, v, describeReq(kmsg.ConfigResourceTypeTopic, "a"))
		r := resp.Resources[0]
		if r.ErrorCode != 0 || len(r.Configs) != len(config.TopicDefs()) {
			t.Fatalf("v%d: %d configs, error %d", v, len(r.Configs), r.ErrorCode)
		}
		byName := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range r.Configs {
			byName[c.Name] = c
		}
		seg, ret, pol := byName["segment.bytes"], byName["retention.ms"], byName["cleanup.policy"]
		if *seg.Value != "4096" || *ret.Value != "7200000" || *pol.Value != "delete" {
			t.Errorf("v%d values: %s %s %s", v, *seg.Value, *ret.Value, *pol.Value)
		}
		if v == 0 && (seg.IsDefault || ret.IsDefault || !pol.IsDefault) {
			t.Errorf("v0 IsDefault: %v %v %v", seg.IsDefault, ret.IsDefault, pol.IsDefault)
		}
		if v >= 1 {
			if seg.Source != kmsg.ConfigSourceDynamicTopicConfig || ret.Source != kmsg.ConfigSourceStaticBrokerConfig || pol.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("v%d sources: %v %v %v", v, seg.Source, ret.Source, pol.Source)
			}
			if len(ret.ConfigSynonyms) != 1 || ret.ConfigSynonyms[0].Name != "log.retention.hours" || *ret.ConfigSynonyms[0].Value != "2" {
				t.Errorf("v%d retention.ms synonyms: %+v", v, ret.ConfigSynonyms)
			}
		}
		if v >= 3 && (ret.ConfigType != kmsg.ConfigTypeLong || ret.Documentation == nil || *ret.Documentation == "") {
			t.Errorf("v%d type %v doc %v", v, ret.ConfigType, ret.Documentation)
		}
	}
	// Filter by names; broker resource; errors.
	resp := call[*kmsg.DescribeConfigsResponse](t, h, 4, describeReq(kmsg.ConfigResourceTypeTopic, "a", "retention.ms", "no.such"))
	if n := len(resp.Resources[0].Configs); n != 1 {
		t.Errorf("filtered: %d configs", n)
	}
	resp = call[*kmsg.DescribeConfigsResponse](t, h, 4, describeReq(kmsg.ConfigResourceTypeBroker, "1", "log.retention.hours", "node.id"))
	if r := resp.Resources[0]; r.ErrorCode != 0 || len(r.Configs) != 2 || *r.Configs[0].Value != "2" || r.Configs[0].Source != kmsg.ConfigSourceStaticBrokerConfig || !r.Configs[1].ReadOnly {
		t.Errorf("broker: %+v", r)
	}
	f := func(typ kmsg.ConfigResourceType, name string, code int16) {
		t.Helper()
		resp := call[*kmsg.DescribeConfigsResponse](t, h, 4, describeReq(typ, name))
		if c := resp.Resources[0].ErrorCode; c != code {
			t.Errorf("describe %v %q: %s, want %s", typ, name, kerr.ErrorForCode(c), kerr.ErrorForCode(code))
		}
	}
	f(kmsg.ConfigResourceTypeTopic, "nope", kerr.UnknownTopicOrPartition.Code)
	f(kmsg.ConfigResourceTypeTopic, "bad name", kerr.InvalidTopicException.Code)
	f(kmsg.ConfigResourceTypeBroker, "7", kerr.InvalidRequest.Code)
	f(kmsg.ConfigResourceTypeBroker, "", 0)
	f(kmsg.ConfigResourceTypeBrokerLogger, "1", kerr.InvalidRequest.Code)
}

func TestAlterConfigs(t *testing.T) {
	h, meta := newAdmin(t, nil)
	req := createReq("a")
	req.Topics[0].Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("4096")}}
	call[*kmsg.CreateTopicsResponse](t, h, 7, req)
	alter := func(v int16, name string, validate bool, kv ...string) kmsg.AlterConfigsResponseResource {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.ValidateOnly = validate
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
		for i := 0; i+1 < len(kv); i += 2 {
			r.Configs = append(r.Configs, kmsg.AlterConfigsRequestResourceConfig{Name: kv[i], Value: kmsg.StringPtr(kv[i+1])})
		}
		req.Resources = append(req.Resources, r)
		return call[*kmsg.AlterConfigsResponse](t, h, v, req).Resources[0]
	}
	if r := alter(2, "a", true, "retention.ms", "5"); r.ErrorCode != 0 || len(meta.Image().Topic("a").Configs) != 1 {
		t.Errorf("validate-only: %+v, configs %v", r, meta.Image().Topic("a").Configs)
	}
	if r := alter(0, "a", false, "retention.ms", "5"); r.ErrorCode != 0 {
		t.Errorf("alter: %+v", r)
	}
	if got := meta.Image().Topic("a").Configs; !cmp.Equal(got, map[string]string{"retention.ms": "5"}) {
		t.Errorf("configs after full replacement = %v", got)
	}
	if r := alter(1, "a", false, "retention.ms", "x"); r.ErrorCode != kerr.InvalidConfig.Code || !strings.Contains(*r.ErrorMessage, "retention.ms") {
		t.Errorf("bad value: %+v", r)
	}
	if r := alter(1, "nope", false, "retention.ms", "1"); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %+v", r)
	}
	if r := alter(1, "a", false, "retention.ms", "1", "retention.ms", "2"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("duplicate key: %+v", r)
	}
	breq := kmsg.NewPtrAlterConfigsRequest()
	breq.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
	if r := call[*kmsg.AlterConfigsResponse](t, h, 2, breq).Resources[0]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("broker alter: %+v", r)
	}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	h, meta := newAdmin(t, nil)
	req := createReq("a")
	req.Topics[0].Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("4096")}}
	call[*kmsg.CreateTopicsResponse](t, h, 7, req)
	type op struct {
		name string
		op   kmsg.IncrementalAlterConfigOp
		val  *string
	}
	s := kmsg.StringPtr
	inc := func(v int16, ops ...op) kmsg.IncrementalAlterConfigsResponseResource {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "a"
		for _, o := range ops {
			r.Configs = append(r.Configs, kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: o.name, Op: o.op, Value: o.val})
		}
		req.Resources = append(req.Resources, r)
		return call[*kmsg.IncrementalAlterConfigsResponse](t, h, v, req).Resources[0]
	}
	f := func(v int16, ops []op, code int16, want map[string]string) {
		t.Helper()
		r := inc(v, ops...)
		if r.ErrorCode != code {
			t.Errorf("%+v: %s (%v), want %s", ops, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, kerr.ErrorForCode(code))
		}
		if got := meta.Image().Topic("a").Configs; !cmp.Equal(got, want) {
			t.Errorf("%+v: configs %v, want %v", ops, got, want)
		}
	}
	f(0, []op{{"retention.ms", kmsg.IncrementalAlterConfigOpSet, s("9")}}, 0, map[string]string{"segment.bytes": "4096", "retention.ms": "9"})
	f(1, []op{{"segment.bytes", kmsg.IncrementalAlterConfigOpDelete, nil}}, 0, map[string]string{"retention.ms": "9"})
	f(1, []op{{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, s("compact")}}, 0, map[string]string{"retention.ms": "9", "cleanup.policy": "delete,compact"})
	f(1, []op{{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, s("compact")}}, 0, map[string]string{"retention.ms": "9", "cleanup.policy": "delete,compact"})
	f(1, []op{{"cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, s("delete")}}, 0, map[string]string{"retention.ms": "9", "cleanup.policy": "compact"})
	same := map[string]string{"retention.ms": "9", "cleanup.policy": "compact"}
	f(1, []op{{"cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, s("compact")}}, kerr.InvalidConfig.Code, same)
	f(1, []op{{"retention.ms", kmsg.IncrementalAlterConfigOpAppend, s("1")}}, kerr.InvalidConfig.Code, same)
	f(1, []op{{"retention.ms", kmsg.IncrementalAlterConfigOpSet, s("-5")}}, kerr.InvalidConfig.Code, same)
	f(1, []op{{"nope", kmsg.IncrementalAlterConfigOpSet, s("1")}}, kerr.InvalidConfig.Code, same)
	f(1, []op{{"retention.ms", kmsg.IncrementalAlterConfigOpSet, s("1")}, {"retention.ms", kmsg.IncrementalAlterConfigOpDelete, nil}}, kerr.InvalidRequest.Code, same)
	f(1, []op{{"retention.ms", 9, s("1")}}, kerr.InvalidRequest.Code, same)
}

func TestDescribeCluster(t *testing.T) {
	h, _ := newAdmin(t, nil)
	for v := int16(0); v <= 2; v++ {
		resp := call[*kmsg.DescribeClusterResponse](t, h, v, kmsg.NewPtrDescribeClusterRequest())
		if resp.ErrorCode != 0 || resp.ClusterID != "test-cluster" || resp.ControllerID != 1 || len(resp.Brokers) != 1 ||
			resp.Brokers[0].Host != "broker.test" || resp.Brokers[0].Port != 19092 || resp.ClusterAuthorizedOperations != -2147483648 {
			t.Errorf("v%d: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	if resp := call[*kmsg.DescribeClusterResponse](t, h, 1, req); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Errorf("controllers endpoint: %d", resp.ErrorCode)
	}
}
