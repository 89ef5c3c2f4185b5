package handler

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDispatchTableWithinKmsg checks that every advertised version is one
// kmsg can encode and decode, so that ApiVersions never promises more than
// the wire layer knows.
func TestDispatchTableWithinKmsg(t *testing.T) {
	for key, a := range apis {
		req := kmsg.RequestForKey(key)
		if req == nil {
			t.Errorf("api %d (%s): unknown to kmsg", key, a.name)
			continue
		}
		if a.maxVersion > req.MaxVersion() || a.minVersion < 0 || a.minVersion > a.maxVersion {
			t.Errorf("api %d (%s): versions %d–%d, kmsg knows 0–%d", key, a.name, a.minVersion, a.maxVersion, req.MaxVersion())
		}
		if name := kmsg.NameForKey(key); name != a.name {
			t.Errorf("api %d: table name %q, kmsg name %q", key, a.name, name)
		}
	}
}
