package handler

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (API key 18): versions 0–4.
//
//	v1: ThrottleMillis
//	v3: ClientSoftwareName/Version (KIP-511), flexible versions; the response
//	    header stays v0 so that any client can read it
//	v4: no change (KIP-896 marks v0 deprecated)
func (h *Handlers) apiVersions(_ context.Context, _ *RequestContext, req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!validSoftware.MatchString(req.ClientSoftwareName) || !validSoftware.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	resp.ApiKeys = VersionRanges()
	for i := range resp.ApiKeys {
		// Advertise Produce from v0 although v0–v2 are refused: librdkafka
		// before 2.10 (kcat, confluent-kafka) otherwise turns off gzip,
		// snappy and lz4 ("Broker does not support compression type").
		// Kafka 4.0 does the same (KAFKA-18659, librdkafka#4956).
		if resp.ApiKeys[i].ApiKey == 0 {
			resp.ApiKeys[i].MinVersion = 0
		}
	}
	return resp
}

// validSoftware is the pattern KIP-511 gives for client software names and versions.
var validSoftware = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)
