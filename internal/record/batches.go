package record

import (
	"encoding/binary"
	"fmt"
)

// Batches iterates over concatenated record batches, as found in a produce
// request's records field or a segment file. It checks only the framing
// (length fields and magic), not the CRC or the records: call Validate on
// each batch for that.
//
//	it := record.NewBatches(b)
//	for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
//		…
//	}
//	if err := it.Err(); err != nil { … }
type Batches struct {
	b   []byte
	pos int
	err error
}

// NewBatches returns an iterator over the batches in b. The batches it
// returns alias b.
func NewBatches(b []byte) *Batches { return &Batches{b: b} }

// Next returns the next batch and its header, or ok=false at the end of the
// bytes or at the first error (see Err).
func (it *Batches) Next() (batch []byte, h Header, ok bool) {
	if it.err != nil || it.pos >= len(it.b) {
		return nil, Header{}, false
	}
	rest := it.b[it.pos:]
	if len(rest) < LogOverhead {
		it.err = fmt.Errorf("%w: %d bytes at position %d, below the batch length prefix", ErrTruncated, len(rest), it.pos)
		return nil, Header{}, false
	}
	length := int32(binary.BigEndian.Uint32(rest[offBatchLength:]))
	if length < HeaderSize-LogOverhead {
		it.err = fmt.Errorf("%w: batch length %d at position %d", ErrCorrupt, length, it.pos)
		return nil, Header{}, false
	}
	size := LogOverhead + int64(length)
	if size > int64(len(rest)) {
		it.err = fmt.Errorf("%w: batch of %d bytes at position %d, %d bytes left", ErrTruncated, size, it.pos, len(rest))
		return nil, Header{}, false
	}
	batch = rest[:size:size]
	h, err := ParseHeader(batch)
	if err != nil {
		it.err = fmt.Errorf("batch at position %d: %w", it.pos, err)
		return nil, Header{}, false
	}
	it.pos += int(size)
	return batch, h, true
}

// Err returns nil if the iterator reached the end of the bytes cleanly,
// ErrTruncated if they end inside a batch (a torn tail), ErrCorrupt for a
// length shorter than a batch header, or ErrMagic for a batch that is not
// magic 2.
func (it *Batches) Err() error { return it.err }

// Pos returns the position in the bytes just after the last batch Next
// returned: after an error, the length of the valid prefix, where a log
// recovery truncates.
func (it *Batches) Pos() int { return it.pos }
