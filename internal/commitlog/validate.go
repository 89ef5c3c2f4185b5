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

// splitBatches validates every batch in b (the hot-path checks of Kafka's
// LogValidator: header, length, magic, CRC32C, record count against the
// last offset delta, size limit) and returns where each starts. It never
// decompresses. maxBatch <= 0 means no size limit (replicated data).
func splitBatches(b []byte, maxBatch int32, spans []batchSpan) ([]batchSpan, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no batches", record.ErrInvalid)
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
		if maxBatch > 0 && size > int(maxBatch) {
			return nil, fmt.Errorf("batch at byte %d: %w: %d bytes, max.message.bytes %d", pos, record.ErrTooLarge, size, maxBatch)
		}
		if record.Checksum(b[pos:pos+size]) != h.CRC {
			return nil, fmt.Errorf("batch at byte %d: %w: CRC mismatch", pos, record.ErrCorrupt)
		}
		if h.LastOffsetDelta < 0 || h.NumRecords != h.LastOffsetDelta+1 && !h.Control() && maxBatch > 0 {
			return nil, fmt.Errorf("batch at byte %d: %w: %d records, last offset delta %d", pos, record.ErrInvalid, h.NumRecords, h.LastOffsetDelta)
		}
		spans = append(spans, batchSpan{pos: pos, h: h})
		pos += size
	}
	return spans, nil
}
