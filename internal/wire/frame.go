package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors from ReadFrame and ParseRequest. A connection that produced one is closed.
var (
	ErrFrameSize     = errors.New("wire: invalid frame size")
	ErrFrameTooLarge = errors.New("wire: frame larger than socket.request.max.bytes")
	ErrHeader        = errors.New("wire: malformed request header")
	ErrUnknownAPI    = errors.New("wire: unknown api key")
	ErrBody          = errors.New("wire: malformed request body")
)

// ReadFrame reads one size-prefixed frame from r into buf (grown if needed)
// and returns it without the size prefix. A size ≤ 0 or > max is an error and
// nothing is allocated for it.
func ReadFrame(r io.Reader, max int32, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrFrameSize, n)
	}
	if n > max {
		return nil, fmt.Errorf("%w: size %d > %d", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
