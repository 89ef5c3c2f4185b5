package record

import (
	"encoding/binary"
	"fmt"
)

// Record is one record of a batch. Its offset and timestamp are deltas from
// the batch's base offset and base timestamp.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key            []byte // nil is a null key
	Value          []byte // nil is a null value (a tombstone)
	Headers        []RecordHeader
}

// RecordHeader is a record header. Its key is never null.
type RecordHeader struct {
	Key   string
	Value []byte // nil is a null value
}

// minRecordSize is the smallest encoded record: a one-byte varint each for
// the length, attributes, timestamp delta, offset delta, key length, value
// length and header count.
const minRecordSize = 7

// RecordTimestamp returns the timestamp of record r of the batch with header
// h: the batch's max timestamp for LogAppendTime batches, else the base
// timestamp plus the record's delta.
func (h *Header) RecordTimestamp(r *Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp + r.TimestampDelta
}

// DecodeRecords validates batch (as Validate with control batches and
// offset gaps allowed, so that stored batches decode), decompresses it if
// needed and returns its records. limit caps the decompressed size of the
// records (ErrTooLarge beyond). Keys and values alias batch if it is
// uncompressed, else a buffer of their own.
func DecodeRecords(batch []byte, limit int) ([]Record, error) {
	h, err := Validate(batch, ValidateOptions{AllowControl: true, AllowOffsetGaps: true})
	if err != nil {
		return nil, err
	}
	data := batch[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		if data, err = Decompress(c, data, limit); err != nil {
			return nil, err
		}
	} else if len(data) > limit {
		return nil, fmt.Errorf("%w: %d bytes of records, limit %d", ErrTooLarge, len(data), limit)
	}
	if int64(h.NumRecords) > int64(len(data)/minRecordSize) {
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrInvalid, h.NumRecords, len(data))
	}
	recs := make([]Record, 0, h.NumRecords)
	err = walkRecords(data, &h, true, false, &recs)
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// BuilderOptions describe the batch a Builder encodes.
type BuilderOptions struct {
	Codec      Codec
	BaseOffset int64
	// BaseTimestamp is what record timestamp deltas are relative to.
	BaseTimestamp int64
	// ProducerID is -1 for a batch without a producer. The zero value is
	// producer id 0.
	ProducerID    int64
	ProducerEpoch int16
	// ProducerEpoch and BaseSequence are -1 for a batch without a producer.
	BaseSequence         int32
	Transactional        bool
	Control              bool
	LogAppendTime        bool
	PartitionLeaderEpoch int32
	// DeleteHorizon, if positive, marks the batch as carrying a delete
	// horizon (KIP-534): the header's base timestamp becomes DeleteHorizon
	// and record deltas are rebased on it, so every record keeps the
	// timestamp BaseTimestamp+TimestampDelta. -1 or 0: none.
	DeleteHorizon int64
	// LastOffsetDelta, if above the largest record offset delta, is written
	// instead, so that a batch rewritten by the cleaner keeps its offset
	// range (for instance an empty batch kept for producer state).
	LastOffsetDelta int32
}

// Builder encodes a record batch. Records are added with explicit offset
// and timestamp deltas so that the cleaner can rewrite a batch keeping the
// original offsets and timestamps. A Builder can be reused with Reset.
type Builder struct {
	opts BuilderOptions
	recs []byte // encoded records, uncompressed
	n    int32
	last int32 // offset delta of the last record added; -1 if none
	maxT int64 // largest timestamp delta
	err  error
}

// NewBuilder returns a Builder for a batch described by opts.
func NewBuilder(opts BuilderOptions) *Builder {
	b := &Builder{}
	b.Reset(opts)
	return b
}

// Reset discards the records added so far and starts a batch described by
// opts, keeping the buffers.
func (b *Builder) Reset(opts BuilderOptions) {
	*b = Builder{opts: opts, recs: b.recs[:0], last: -1}
}

// Add appends a record. Offset deltas must increase; an error is reported
// by Build.
func (b *Builder) Add(r Record) {
	if b.err != nil {
		return
	}
	if r.OffsetDelta <= b.last {
		b.err = fmt.Errorf("%w: offset delta %d after %d", ErrInvalid, r.OffsetDelta, b.last)
		return
	}
	delta := r.TimestampDelta
	if b.opts.DeleteHorizon > 0 {
		delta = b.opts.BaseTimestamp + r.TimestampDelta - b.opts.DeleteHorizon
	}
	size := 1 + sizeVarlong(delta) + sizeVarint(r.OffsetDelta) +
		sizeBytes(r.Key) + sizeBytes(r.Value) + sizeVarint(int32(len(r.Headers)))
	for _, h := range r.Headers {
		size += sizeVarint(int32(len(h.Key))) + len(h.Key) + sizeBytes(h.Value)
	}
	out := appendVarint(b.recs, int32(size))
	out = append(out, 0) // attributes
	out = appendVarlong(out, delta)
	out = appendVarint(out, r.OffsetDelta)
	out = appendBytes(out, r.Key)
	out = appendBytes(out, r.Value)
	out = appendVarint(out, int32(len(r.Headers)))
	for _, h := range r.Headers {
		out = appendVarint(out, int32(len(h.Key)))
		out = append(out, h.Key...)
		out = appendBytes(out, h.Value)
	}
	b.recs = out
	if b.n == 0 || r.TimestampDelta > b.maxT {
		b.maxT = r.TimestampDelta
	}
	b.n++
	b.last = r.OffsetDelta
}

func sizeBytes(b []byte) int {
	if b == nil {
		return 1
	}
	return sizeVarint(int32(len(b))) + len(b)
}

// Len returns the number of records added.
func (b *Builder) Len() int { return int(b.n) }

// Build appends the complete batch, with its CRC, to dst. MaxTimestamp is
// the largest record timestamp (BaseTimestamp for an empty batch). For a
// LogAppendTime batch whose append time differs, call SetLogAppendTime on
// the result.
func (b *Builder) Build(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	o := &b.opts
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	var err error
	if dst, err = Compress(o.Codec, dst, b.recs); err != nil {
		return dst[:start], err
	}
	batch := dst[start:]
	if len(batch)-LogOverhead > 1<<31-1 {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrTooLarge, len(batch))
	}
	attrs := uint16(o.Codec) & attrCompressionMask
	if o.LogAppendTime {
		attrs |= attrTimestampType
	}
	if o.Transactional {
		attrs |= attrTransactional
	}
	if o.Control {
		attrs |= attrControl
	}
	base := o.BaseTimestamp
	if o.DeleteHorizon > 0 {
		attrs |= attrDeleteHorizon
		base = o.DeleteHorizon
	}
	last := max(b.last, o.LastOffsetDelta, 0)
	be := binary.BigEndian
	be.PutUint64(batch[offBaseOffset:], uint64(o.BaseOffset))
	be.PutUint32(batch[offBatchLength:], uint32(len(batch)-LogOverhead))
	be.PutUint32(batch[offPartitionLeaderEpoch:], uint32(o.PartitionLeaderEpoch))
	batch[offMagic] = 2
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint32(batch[offLastOffsetDelta:], uint32(last))
	be.PutUint64(batch[offBaseTimestamp:], uint64(base))
	be.PutUint64(batch[offMaxTimestamp:], uint64(o.BaseTimestamp+b.maxT))
	be.PutUint64(batch[offProducerID:], uint64(o.ProducerID))
	be.PutUint16(batch[offProducerEpoch:], uint16(o.ProducerEpoch))
	be.PutUint32(batch[offBaseSequence:], uint32(o.BaseSequence))
	be.PutUint32(batch[offNumRecords:], uint32(b.n))
	be.PutUint32(batch[offCRC:], Checksum(batch))
	return dst, nil
}
