package commitlog

import (
	"fmt"

	"github.com/kavka-io/kavka/internal/record"
)

// batchSpan is one batch inside an append's byte slice.
type batchSpan struct {
	pos int // start in the slice
	h   record.Header
}

// splitBatches splits b into batches and validates each with
// record.Validate (Kafka's LogValidator batch checks: lengths, magic, CRC32C,
// codec, record count against the last offset delta, the size limit, and the
// record framing of uncompressed batches). It never decompresses.
// replicated selects the follower rules: no size limit, offset gaps allowed
// (a compacted leader's batches). walked skips the per-record walk of
// uncompressed batches for bytes the caller validated with record.Validate
// already (the produce handler; AppendProducer): at 100-byte records that
// walk was about 30% of the broker's CPU, done twice.
func splitBatches(b []byte, maxBatch int32, replicated, walked bool, spans []batchSpan) ([]batchSpan, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", record.ErrInvalid)
	}
	opts := record.ValidateOptions{MaxBatchBytes: int(maxBatch), AllowControl: true, SkipRecords: walked}
	if replicated {
		opts = record.ValidateOptions{AllowControl: true, AllowOffsetGaps: true}
	}
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		size := h.Size()
		if size > len(b)-pos {
			return nil, fmt.Errorf("batch at byte %d: %w: length %d beyond the %d bytes sent", pos, record.ErrCorrupt, size, len(b)-pos)
		}
		if h, err = record.Validate(b[pos:pos+size], opts); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		spans = append(spans, batchSpan{pos: pos, h: h})
		pos += size
	}
	return spans, nil
}
