package handler

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/wire"
)

// RequestContext describes one request: its header and the connection it
// came on.
type RequestContext struct {
	Header wire.RequestHeader
	// Peer is the remote address of the connection, for logs.
	Peer string
	// FileRegions allows a Fetch response to leave record bytes in the
	// segment files (a FileResponse) for the writer to send with sendfile.
	FileRegions bool
}

// Handlers serves requests. Its dependencies are set by the server at start
// and never change; each subsystem guards its own state.
type Handlers struct {
	deps     Deps
	sessions *fetchSessions

	// hwMu serializes high-watermark moves so that a slower produce never
	// moves it back.
	hwMu sync.Mutex
}

// New returns Handlers using deps.
func New(deps Deps) *Handlers {
	if deps.Image == nil {
		empty := &metadata.Image{}
		deps.Image = func() *metadata.Image { return empty }
	}
	if deps.Logs == nil {
		deps.Logs = noLogs{}
	}
	return &Handlers{deps: deps, sessions: newFetchSessions(0)}
}

// noLogs is the Logs of a broker without storage (tests of other layers).
type noLogs struct{}

func (noLogs) Get(string, int32) *commitlog.Log { return nil }

// Handle serves one decoded request and returns its response. The version of
// req must be Supported; the network layer checks that before decoding.
func (h *Handlers) Handle(ctx context.Context, rc *RequestContext, req kmsg.Request) kmsg.Response {
	a, ok := apis[req.Key()]
	if !ok {
		panic(fmt.Sprintf("BUG: Handle called for unsupported api key %d", req.Key()))
	}
	var resp kmsg.Response
	if a.serve == nil { // ApiVersions; see coreAPIs
		resp = h.apiVersions(ctx, rc, req.(*kmsg.ApiVersionsRequest))
	} else {
		resp = a.serve(h, ctx, rc, req)
	}
	resp.SetVersion(req.GetVersion())
	return resp
}

// UnsupportedAPIVersions is Kafka's answer to an ApiVersions request at a
// version newer than the broker knows: a v0 response with UNSUPPORTED_VERSION
// and ApiVersions' own range, so that the client retries at a version we
// support (KIP-511; franz-go relies on it).
func UnsupportedAPIVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = 35 // UNSUPPORTED_VERSION
	a := apis[18]
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = 18, a.minVersion, a.maxVersion
	resp.ApiKeys = append(resp.ApiKeys, k)
	return resp
}
