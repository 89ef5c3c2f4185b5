package handler

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one entry of the dispatch table.
type api struct {
	name       string
	minVersion int16
	maxVersion int16
	serve      func(h *Handlers, ctx context.Context, rc *RequestContext, req kmsg.Request) kmsg.Response
}

// adapt turns a typed handler method into a dispatch-table function.
func adapt[R kmsg.Request](f func(*Handlers, context.Context, *RequestContext, R) kmsg.Response) func(*Handlers, context.Context, *RequestContext, kmsg.Request) kmsg.Response {
	return func(h *Handlers, ctx context.Context, rc *RequestContext, req kmsg.Request) kmsg.Response {
		return f(h, ctx, rc, req.(R))
	}
}

// apis is the dispatch table: API key → versions and handler. It is the union
// of the tables below, kept in separate files by area so that they can grow
// independently; a key appears in exactly one of them (checked by a test).
var apis = mergeTables(coreAPIs, dataAPIs, adminAPIs, groupAPIs, txnAPIs, clusterAPIs)

// coreAPIs are the APIs every connection needs before anything else.
var coreAPIs = map[int16]api{
	// ApiVersions is served by Handle directly: its handler reads this table.
	18: {name: "ApiVersions", minVersion: 0, maxVersion: 4},
}

func mergeTables(tables ...map[int16]api) map[int16]api {
	all := make(map[int16]api)
	for _, t := range tables {
		for k, v := range t {
			if _, dup := all[k]; dup {
				panic("BUG: api key registered twice: " + v.name)
			}
			all[k] = v
		}
	}
	return all
}

// Supported reports whether the broker serves version v of API key.
func Supported(key, v int16) bool {
	a, ok := apis[key]
	return ok && v >= a.minVersion && v <= a.maxVersion
}

// VersionRanges returns the supported version range of every API, sorted by
// key, as ApiVersions reports them.
func VersionRanges() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		r := kmsg.NewApiVersionsResponseApiKey()
		r.ApiKey, r.MinVersion, r.MaxVersion = k, a.minVersion, a.maxVersion
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}
