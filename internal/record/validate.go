package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ValidateOptions tunes Validate for where the batch comes from.
type ValidateOptions struct {
	// MaxBatchBytes is the largest whole batch (LogOverhead included)
	// accepted; a larger one is ErrTooLarge. Zero means no limit. Kafka
	// equivalent: max.message.bytes.
	MaxBatchBytes int
	// AllowControl accepts control batches (transaction markers). It is
	// false for client produce requests: Kafka rejects control records from
	// clients with INVALID_RECORD.
	AllowControl bool
	// AllowOffsetGaps accepts batches whose records do not cover every
	// offset from the base offset to the last one, as the log cleaner
	// writes them: NumRecords may be below LastOffsetDelta+1 (even zero: the
	// cleaner keeps an empty batch to preserve a producer's last sequence)
	// and offset deltas need only increase. Only for batches read from disk.
	AllowOffsetGaps bool
	// SkipRecords skips the walk of an uncompressed batch's records (the
	// costly part at small record sizes) and keeps every batch-level check.
	// Only for bytes the same process already validated fully: the
	// commitlog's append of a produce request the handler checked.
	SkipRecords bool
}

// Validate checks that b is exactly one complete magic-2 record batch and
// returns its header. It checks, in order: the length fields against len(b)
// (ErrCorrupt), the size limit (ErrTooLarge), the magic (ErrMagic), the
// CRC32C (ErrCorrupt), the codec (ErrUnsupportedCodec), the record count and
// offset range, control and producer fields (ErrInvalid), and for an
// uncompressed batch every record's varint-framed fields, which must parse
// within the batch with exactly NumRecords records (ErrInvalid). It never
// decompresses and never allocates unless it returns an error.
//
// Mirrors the batch-level checks of Kafka's LogValidator and
// DefaultRecordBatch.ensureValid.
func Validate(b []byte, opts ValidateOptions) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, below the %d-byte batch header", ErrCorrupt, len(b), HeaderSize)
	}
	length := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if int64(length)+LogOverhead != int64(len(b)) {
		return Header{}, fmt.Errorf("%w: batch length %d does not match the %d bytes present", ErrCorrupt, length, len(b)-LogOverhead)
	}
	if opts.MaxBatchBytes > 0 && len(b) > opts.MaxBatchBytes {
		return Header{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), opts.MaxBatchBytes)
	}
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if crc := Checksum(b); crc != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, h.CRC, crc)
	}
	if c := h.Codec(); c > CodecZstd {
		return h, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
	}
	if err := checkHeader(&h, opts); err != nil {
		return h, err
	}
	if h.Codec() == CodecNone && !opts.SkipRecords {
		if err := walkRecords(b[HeaderSize:], &h, opts.AllowOffsetGaps, false, nil); err != nil {
			return h, err
		}
	}
	return h, nil
}

// ValidateRecords checks the records inside a batch that Validate accepted,
// as Kafka's LogValidator does for compressed batches: it decompresses a
// compressed batch once (ErrTooLarge beyond limit bytes, a corrupt stream is
// ErrInvalid) and walks every record within bounds without keeping any.
// With requireKeys, a record with a null key is ErrInvalid (compacted
// topics). It allocates only the decompressed buffer.
func ValidateRecords(batch []byte, h *Header, limit int, requireKeys bool) error {
	data := batch[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		var err error
		if data, err = Decompress(c, data, limit); err != nil {
			if errors.Is(err, ErrCorrupt) {
				err = fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			return err
		}
	} else if len(data) > limit {
		return fmt.Errorf("%w: %d bytes of records, limit %d", ErrTooLarge, len(data), limit)
	}
	if int64(h.NumRecords) > int64(len(data)/minRecordSize) {
		return fmt.Errorf("%w: %d records in %d bytes", ErrInvalid, h.NumRecords, len(data))
	}
	return walkRecords(data, h, false, requireKeys, nil)
}

// checkHeader checks the header fields that do not depend on the records.
func checkHeader(h *Header, opts ValidateOptions) error {
	switch {
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("%w: last offset delta %d", ErrInvalid, h.LastOffsetDelta)
	case h.NumRecords < 0 || (h.NumRecords == 0 && !opts.AllowOffsetGaps):
		return fmt.Errorf("%w: record count %d", ErrInvalid, h.NumRecords)
	case !opts.AllowOffsetGaps && int64(h.NumRecords) != int64(h.LastOffsetDelta)+1:
		return fmt.Errorf("%w: inconsistent batch offset range: %d records, last offset delta %d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	case int64(h.NumRecords) > int64(h.LastOffsetDelta)+1:
		return fmt.Errorf("%w: %d records in an offset range of %d", ErrInvalid, h.NumRecords, int64(h.LastOffsetDelta)+1)
	case h.Control() && !opts.AllowControl:
		return fmt.Errorf("%w: clients may not write control records", ErrInvalid)
	case h.ProducerID >= 0 && h.BaseSequence < 0 && !h.Control():
		return fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalid, h.ProducerID, h.BaseSequence)
	case h.ProducerID < 0 && (h.Transactional() || h.Control()):
		return fmt.Errorf("%w: transactional or control batch without a producer id", ErrInvalid)
	}
	return nil
}

// walkRecords parses the uncompressed records of a batch with header h. It
// requires exactly h.NumRecords records filling src, with offset deltas 0,
// 1, 2… (or, with gaps allowed, increasing and at most LastOffsetDelta). If
// out is not nil the records are appended to it; their slices alias src.
// With out nil it does not allocate. With keys, a record with a null key is
// ErrInvalid.
func walkRecords(src []byte, h *Header, gaps, keys bool, out *[]Record) error {
	r := reader{src: src}
	prev := int64(-1)
	var rec Record
	for i := int32(0); i < h.NumRecords; i++ {
		if len(r.src) == 0 {
			return fmt.Errorf("%w: %d records, header says %d", ErrInvalid, i, h.NumRecords)
		}
		r.record(&rec, out != nil)
		if r.err != nil {
			return fmt.Errorf("record %d: %w", i, r.err)
		}
		off := int64(rec.OffsetDelta)
		switch {
		case !gaps && off != int64(i):
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, off)
		case gaps && (off <= prev || off > int64(h.LastOffsetDelta)):
			return fmt.Errorf("%w: record %d has offset delta %d after %d, last %d", ErrInvalid, i, off, prev, h.LastOffsetDelta)
		}
		prev = off
		if keys && rec.Key == nil {
			return fmt.Errorf("%w: compacted topic cannot accept message without key (record %d)", ErrInvalid, i)
		}
		if out != nil {
			*out = append(*out, rec)
		}
	}
	if len(r.src) != 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(r.src), h.NumRecords)
	}
	return nil
}

// record reads one record into rec. With keep false it checks the headers
// without storing them (no allocation); with keep true rec.Headers is a new
// slice. Key, Value and header values alias the input.
func (r *reader) record(rec *Record, keep bool) {
	length := r.varint()
	if r.err != nil {
		return
	}
	if length < 0 || int(length) > len(r.src) {
		r.fail("%w: record length %d with %d bytes left", ErrInvalid, length, len(r.src))
		return
	}
	body := reader{src: r.src[:length]}
	r.src = r.src[length:]
	body.int8() // attributes: unused
	rec.TimestampDelta = body.varlong()
	rec.OffsetDelta = body.varint()
	rec.Key = body.bytes("key", true)
	rec.Value = body.bytes("value", true)
	n := body.varint()
	switch {
	case body.err != nil:
	case n < 0:
		body.fail("%w: header count %d", ErrInvalid, n)
	case int(n) > len(body.src)/2: // a header takes at least 2 bytes
		body.fail("%w: header count %d with %d bytes left", ErrInvalid, n, len(body.src))
	}
	rec.Headers = nil
	if keep && body.err == nil && n > 0 {
		rec.Headers = make([]RecordHeader, 0, n)
	}
	for i := int32(0); i < n && body.err == nil; i++ {
		k := body.bytes("header key", false)
		v := body.bytes("header value", true)
		if keep {
			rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if body.err == nil && len(body.src) != 0 {
		body.fail("%w: record has %d bytes after its headers", ErrInvalid, len(body.src))
	}
	if body.err != nil {
		r.err, r.src = body.err, nil
	}
}
