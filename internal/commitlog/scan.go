package commitlog

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// blockReader reads a file sequentially in large blocks so that scanning
// batch headers costs one system call per block, not per batch.
type blockReader struct {
	f     vfs.File
	end   int64  // bytes past end are never read
	buf   []byte // holds file bytes [bufAt, bufAt+len(buf))
	bufAt int64
	store []byte
}

const scanBlock = 256 << 10

func newBlockReader(f vfs.File, end int64) *blockReader {
	return &blockReader{f: f, end: end}
}

// at returns n bytes at pos, or io.ErrUnexpectedEOF if the file (bounded by
// end) holds fewer. The slice is valid until the next call.
func (r *blockReader) at(pos int64, n int) ([]byte, error) {
	if n < 0 || pos < 0 || pos > r.end || int64(n) > r.end-pos {
		return nil, io.ErrUnexpectedEOF
	}
	if pos >= r.bufAt && pos+int64(n) <= r.bufAt+int64(len(r.buf)) {
		i := pos - r.bufAt
		return r.buf[i : i+int64(n)], nil
	}
	want := max(n, scanBlock)
	if rem := r.end - pos; int64(want) > rem {
		want = int(rem)
	}
	if cap(r.store) < want {
		r.store = make([]byte, want)
	}
	b := r.store[:want]
	m, err := r.f.ReadAt(b, pos)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.buf = nil
		return nil, err
	}
	r.buf, r.bufAt = b[:m], pos
	return r.buf[:n], nil
}

// scanStop says why a scan stopped before the end of the file.
type scanStop int

const (
	stopEnd     scanStop = iota // reached end cleanly
	stopTorn                    // the last batch is incomplete
	stopCorrupt                 // a batch failed a check
)

// scanOpts says what scanBatches checks.
type scanOpts struct {
	base       int64 // the segment's base offset
	minNext    int64 // the first batch must start at or after this offset
	verifyCRC  bool
	maxBatches int   // 0 = unlimited
	stopAt     int64 // > 0: stop (stopEnd) at the first batch boundary at or after it
}

// scanBatches walks whole batches from pos to end, calling fn for each valid
// one, and returns where the valid data ends, the offset after the last valid
// batch, and why it stopped. err is only an I/O error. Mirrors
// kafka.log.LogSegment.recover: a batch is valid when its header parses,
// it fits in the file, its offsets increase and stay within 2^31 of the
// segment base, and (with verifyCRC) its CRC32C matches.
func scanBatches(br *blockReader, pos int64, o scanOpts, fn func(pos int64, h *record.Header)) (validEnd, next int64, why scanStop, err error) {
	next = o.minNext
	for n := 0; o.maxBatches == 0 || n < o.maxBatches; n++ {
		if pos == br.end || o.stopAt > 0 && pos >= o.stopAt {
			return pos, next, stopEnd, nil
		}
		hb, err := br.at(pos, record.HeaderSize)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return pos, next, stopTorn, nil
			}
			return pos, next, stopCorrupt, fmt.Errorf("read batch header at %d: %w", pos, err)
		}
		h, perr := record.ParseHeader(hb)
		if perr != nil {
			return pos, next, stopCorrupt, nil
		}
		size := int64(h.Size())
		if size > br.end-pos {
			return pos, next, stopTorn, nil
		}
		if h.LastOffsetDelta < 0 || h.BaseOffset < next || h.BaseOffset < o.base ||
			h.LastOffset()-o.base > math.MaxInt32 || h.NumRecords < 0 {
			return pos, next, stopCorrupt, nil
		}
		if o.verifyCRC {
			b, err := br.at(pos, int(size))
			if err != nil {
				return pos, next, stopCorrupt, fmt.Errorf("read batch at %d: %w", pos, err)
			}
			if record.Checksum(b) != h.CRC {
				return pos, next, stopCorrupt, nil
			}
		}
		if fn != nil {
			fn(pos, &h)
		}
		pos += size
		next = h.NextOffset()
	}
	return pos, next, stopEnd, nil
}
