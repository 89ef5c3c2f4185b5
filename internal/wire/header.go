package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestHeader is a decoded request header.
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string // nil when the client sent a null client id
	// Flexible reports whether the body at this version uses flexible
	// encoding (request header v2, response header v1), per kmsg.
	Flexible bool
}

// ParseHeader decodes the request header at the start of frame and returns
// it with the body that follows. It needs the API key to know the header
// version: for an unknown key it returns ErrUnknownAPI with the key, version
// and correlation id filled in, so the caller can log it and close.
func ParseHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, fmt.Errorf("%w: %d bytes", ErrHeader, len(frame))
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	rest := frame[8:]
	req := kmsg.RequestForKey(h.APIKey)
	if req == nil {
		return h, nil, fmt.Errorf("%w: %d", ErrUnknownAPI, h.APIKey)
	}
	req.SetVersion(h.APIVersion)
	h.Flexible = req.IsFlexible()
	// client_id is a nullable (non-compact) string in every header version.
	if len(rest) < 2 {
		return h, nil, fmt.Errorf("%w: truncated client id", ErrHeader)
	}
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(rest):
		return h, nil, fmt.Errorf("%w: client id length %d", ErrHeader, n)
	default:
		s := string(rest[:n])
		h.ClientID = &s
		rest = rest[n:]
	}
	if h.Flexible {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return h, nil, err
		}
	}
	return h, rest, nil
}

// skipTags skips a tagged-field section (KIP-482): a count, then for each tag
// a tag number and a size, all unsigned varints, and size bytes.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: tagged fields", ErrHeader)
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: tag number", ErrHeader)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: tag size", ErrHeader)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// DecodeRequest decodes body as the request for h's key and version with kmsg
// and checks that body is exactly the canonical encoding of what it decoded
// to (see the package doc: strict decoding). Anything else is ErrBody.
func DecodeRequest(h RequestHeader, body []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.APIKey)
	if req == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAPI, h.APIKey)
	}
	req.SetVersion(h.APIVersion)
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %v", ErrBody, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	if n, ok := canonical(req, body); !ok {
		return nil, fmt.Errorf("%w: %s v%d: %d bytes are not the canonical encoding of the %d-byte request they decode to",
			ErrBody, kmsg.NameForKey(h.APIKey), h.APIVersion, len(body), n)
	}
	return req, nil
}

// canonical reports whether body is byte for byte what kmsg encodes req to,
// and the length of that encoding. kmsg's decoder is more lenient than
// Kafka's: it takes a negative count of a non-nullable array as empty, null
// for non-nullable bytes as empty, keeps the last of duplicate tags and stops
// before trailing bytes. Each of those re-encodes differently, so comparing
// catches all of them with one rule. The scratch buffer is pooled.
func canonical(req kmsg.Request, body []byte) (int, bool) {
	if p, ok := req.(*kmsg.ProduceRequest); ok {
		return canonicalProduce(p, body)
	}
	bp := scratch.Get().(*[]byte)
	enc := req.AppendTo((*bp)[:0])
	n, ok := len(enc), bytes.Equal(enc, body)
	if cap(enc) <= maxPooledScratch {
		*bp = enc[:0]
		scratch.Put(bp)
	}
	return n, ok
}

// canonicalProduce checks a Produce request without copying its records,
// which are nearly all of its bytes: it encodes the request with every
// partition's records taken out (null) and compares the length that the
// records add back with the body's. Differences that keep the length (a
// -1 count for a non-nullable array of topics or partitions) pass here;
// they decode as empty and are answered as such.
func canonicalProduce(p *kmsg.ProduceRequest, body []byte) (int, bool) {
	flexible := p.IsFlexible()
	add := 0
	for i := range p.Topics {
		for j := range p.Topics[i].Partitions {
			if r := p.Topics[i].Partitions[j].Records; r != nil {
				add += len(r) // int32 length: 4 bytes, as the null's -1
				if flexible {
					add += len(binary.AppendUvarint(nil, uint64(len(r))+1)) - 1 // null is 1 byte
				}
			}
		}
	}
	saved := make([][]byte, 0, 8)
	for i := range p.Topics {
		for j := range p.Topics[i].Partitions {
			pp := &p.Topics[i].Partitions[j]
			saved = append(saved, pp.Records)
			pp.Records = nil
		}
	}
	bp := scratch.Get().(*[]byte)
	enc := p.AppendTo((*bp)[:0])
	n := len(enc) + add
	*bp = enc[:0]
	scratch.Put(bp)
	k := 0
	for i := range p.Topics {
		for j := range p.Topics[i].Partitions {
			p.Topics[i].Partitions[j].Records = saved[k]
			k++
		}
	}
	return n, n == len(body)
}

// maxPooledScratch bounds the re-encoding buffers kept for reuse, so that one
// large produce does not pin its size for good.
const maxPooledScratch = 1 << 20

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// AppendResponse appends a whole response frame — size, correlation id, the
// response header's tagged fields when flexible, and the body encoded by kmsg —
// to dst. ApiVersions always uses response header v0, even when flexible
// (KIP-511), so that a client can parse it before it knows our versions.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != 18 {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
