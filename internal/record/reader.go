package record

import "fmt"

// reader decodes the record-level fields of a batch. Its errors are sticky:
// after the first failure every method returns a zero value and err keeps
// the first reason. It never allocates.
type reader struct {
	src []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.src = nil
}

// uvarint reads an unsigned LEB128 varint of at most maxBytes bytes.
func (r *reader) uvarint(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		if i >= len(r.src) {
			r.fail("%w: varint past the end of the records", ErrInvalid)
			return 0
		}
		b := r.src[i]
		if i == 9 && b > 1 {
			r.fail("%w: varint overflows 64 bits", ErrInvalid)
			return 0
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			r.src = r.src[i+1:]
			return v
		}
	}
	r.fail("%w: varint longer than %d bytes", ErrInvalid, maxBytes)
	return 0
}

// varint reads a zigzag-encoded int32 (at most 5 bytes), as Kafka's
// ByteUtils.readVarint.
func (r *reader) varint() int32 {
	u := r.uvarint(5)
	if u > 0xffffffff {
		r.fail("%w: varint overflows int32", ErrInvalid)
		return 0
	}
	u32 := uint32(u)
	return int32(u32>>1) ^ -int32(u32&1)
}

// varlong reads a zigzag-encoded int64 (at most 10 bytes).
func (r *reader) varlong() int64 {
	u := r.uvarint(10)
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) int8() int8 {
	if len(r.src) < 1 {
		r.fail("%w: record attributes past the end", ErrInvalid)
		return 0
	}
	v := int8(r.src[0])
	r.src = r.src[1:]
	return v
}

// bytes reads a varint length and that many bytes; length -1 is null (nil)
// if nullable. The result aliases the input.
func (r *reader) bytes(what string, nullable bool) []byte {
	n := r.varint()
	if r.err != nil {
		return nil
	}
	switch {
	case n == -1 && nullable:
		return nil
	case n < 0:
		r.fail("%w: %s length %d", ErrInvalid, what, n)
		return nil
	case int(n) > len(r.src):
		r.fail("%w: %s length %d exceeds the %d bytes left", ErrInvalid, what, n, len(r.src))
		return nil
	}
	b := r.src[:n:n]
	r.src = r.src[n:]
	if b == nil {
		b = []byte{}
	}
	return b
}

// skip is bytes without the result.
func (r *reader) skip(what string, nullable bool) { r.bytes(what, nullable) }

// appendUvarint appends v as an unsigned LEB128 varint.
func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendVarint(dst []byte, v int32) []byte {
	return appendUvarint(dst, uint64(uint32(v<<1)^uint32(v>>31)))
}

func appendVarlong(dst []byte, v int64) []byte {
	return appendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

// appendBytes appends a varint length and b; nil is written as length -1.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	return append(appendVarint(dst, int32(len(b))), b...)
}

// sizeUvarint returns the encoded size of v.
func sizeUvarint(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func sizeVarint(v int32) int  { return sizeUvarint(uint64(uint32(v<<1) ^ uint32(v>>31))) }
func sizeVarlong(v int64) int { return sizeUvarint(uint64(v<<1) ^ uint64(v>>63)) }
