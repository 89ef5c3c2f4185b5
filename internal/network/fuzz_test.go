package network

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzServeFrame drives random frames through the real connection loop over
// TCP: whatever the bytes, the broker answers or closes, and the next client's
// ApiVersions succeeds. raw=false prefixes the input with its own length, so
// that most inputs reach header and body decoding.
func FuzzServeFrame(f *testing.F) {
	for v := range int16(5) {
		f.Add(appendRequest(nil, 1, apiVersionsRequest(v))[4:], false)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	f.Add(appendRequest(nil, 2, meta)[4:], false)
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff}, false)
	f.Add([]byte{0, 0, 0, 0}, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, true)
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"), true)

	s := start(f, nil, Config{MaxRequestSize: 1 << 16, IdleTimeout: time.Second})
	f.Fuzz(func(t *testing.T, b []byte, raw bool) {
		c := dial(t, s.addr)
		if !raw {
			b = append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
		}
		c.Write(b)
		c.(interface{ CloseWrite() error }).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, io.LimitReader(c, 1<<20)); err != nil {
			t.Fatalf("broker neither answered nor closed: %v", err)
		}
		c.Close()
		checkServes(t, s.addr)
	})
}
