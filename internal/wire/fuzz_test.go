package wire

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Allocation bound for decoding one request frame: allocPerByte bytes per
// input byte plus allocSlack. kmsg checks every count against the bytes left
// times the element's minimum wire size, so what one input byte can make it
// allocate is bounded by the in-memory size of an element over its minimum
// wire size, plus the re-encoding buffer (one byte per byte) of the strict
// check. Measured worst cases (TestDecodeAllocWorstCases): about 30× for an
// array of empty strings (Metadata v0–v8: a 2-byte element becomes a
// struct and a *string), about 90× when every element also carries one
// unknown tag (Metadata v9: 3 bytes of tag become a Go map). Kafka's Java
// parser has the same shape (an object per element, a list per unknown
// tag). The slack covers the request struct and a fresh scratch buffer after
// a GC emptied the pool.
const (
	allocPerByte = 128
	allocSlack   = 32 << 10
)

// seedFrames returns one valid request frame (header and body, without the
// size prefix) for every API key and version kmsg knows.
func seedFrames() [][]byte {
	var out [][]byte
	for key := int16(0); key < 1000; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		for v := int16(0); v <= req.MaxVersion(); v++ {
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			out = append(out, appendFrame(nil, r, 1, r.AppendTo(nil)))
		}
	}
	return out
}

// appendFrame appends req's header (client id "fz") and body to dst.
func appendFrame(dst []byte, req kmsg.Request, corr int32, body []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = append(dst, 0, 2, 'f', 'z')
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	return append(dst, body...)
}

// decode is what the network layer does with one frame.
func decode(frame []byte) (kmsg.Request, error) {
	h, body, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	return DecodeRequest(h, body)
}

// FuzzDecodeRequest: whatever the bytes, decoding a frame returns a request
// or a typed error, never panics, never allocates more than allocPerByte
// times the frame plus allocSlack, and what it accepts re-encodes to the
// same bytes (the strict-decoding rule of the package doc).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	// A few classic shapes: INT32_MAX counts and lengths in tiny payloads.
	for _, key := range []int16{0, 1, 3, 19, 32} {
		req := kmsg.RequestForKey(key)
		req.SetVersion(req.MaxVersion())
		f.Add(appendFrame(nil, req, 1, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}))
		req.SetVersion(4)
		f.Add(appendFrame(nil, req, 1, []byte{0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff}))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var req kmsg.Request
		var err error
		limit := uint64(allocPerByte*len(frame) + allocSlack)
		n := allocs(func() { req, err = decode(frame) })
		// TotalAlloc is process-wide and the fuzz worker's own goroutines
		// allocate too: only a bound exceeded three times in a row counts.
		for i := 0; i < 2 && n > limit; i++ {
			n = min(n, allocs(func() { req, err = decode(frame) }))
		}
		if n > limit {
			t.Fatalf("decoding %d bytes allocated %d (limit %d)", len(frame), n, limit)
		}
		if err != nil {
			if !errors.Is(err, ErrHeader) && !errors.Is(err, ErrUnknownAPI) && !errors.Is(err, ErrBody) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_, body, _ := ParseHeader(frame)
		got := req.AppendTo(nil)
		if req.Key() == 0 { // Produce: lengths only (canonicalProduce)
			if len(got) != len(body) {
				t.Fatalf("accepted a %d-byte produce body that re-encodes to %d bytes", len(body), len(got))
			}
			return
		}
		if string(got) != string(body) {
			t.Fatalf("accepted a body that re-encodes differently:\n got %x\nwant %x", got, body)
		}
	})
}

// TestDecodeSeeds: every valid seed decodes.
func TestDecodeSeeds(t *testing.T) {
	seeds := seedFrames()
	if len(seeds) < 300 {
		t.Fatalf("only %d seeds; kmsg knows more", len(seeds))
	}
	for _, s := range seeds {
		if _, err := decode(s); err != nil {
			t.Errorf("seed key %d v%d: %v", binary.BigEndian.Uint16(s), binary.BigEndian.Uint16(s[2:]), err)
		}
	}
}

// allocs returns the bytes allocated while f ran (the process's total; the
// fuzz worker runs one input at a time).
func allocs(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeAllocWorstCases fills every request's first array with as many
// minimal elements as the bytes allow (all-zero, all-one and all-two bytes:
// empty strings, one-byte tags, …) and checks the allocation bound.
func TestDecodeAllocWorstCases(t *testing.T) {
	const elems = 1 << 13
	worst, worstKey, worstV := 0.0, int16(0), int16(0)
	for key := int16(0); key < 1000; key++ {
		if kmsg.RequestForKey(key) == nil {
			continue
		}
		for v := int16(0); v <= kmsg.RequestForKey(key).MaxVersion(); v++ {
			for _, fill := range []byte{0, 1, 2} {
				r := kmsg.RequestForKey(key)
				r.SetVersion(v)
				var body []byte
				if r.IsFlexible() {
					body = binary.AppendUvarint(nil, elems+1)
				} else {
					body = binary.BigEndian.AppendUint32(nil, elems)
				}
				for range 2 * elems {
					body = append(body, fill)
				}
				fr := appendFrame(nil, r, 1, body)
				n := allocs(func() { decode(fr) })
				if limit := uint64(allocPerByte*len(fr) + allocSlack); n > limit {
					t.Errorf("key %d v%d fill %d: %d bytes allocated for a %d-byte frame (limit %d)", key, v, fill, n, len(fr), limit)
				}
				if r := float64(n) / float64(len(fr)); r > worst {
					worst, worstKey, worstV = r, key, v
				}
			}
		}
	}
	t.Logf("worst: %.1f bytes allocated per frame byte (key %d v%d)", worst, worstKey, worstV)
}
