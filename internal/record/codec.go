package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression formats as Kafka clients write them:
//   - gzip: a gzip stream (RFC 1952), possibly several members;
//   - snappy: the Java client writes xerial framing (a 16-byte header, then
//     blocks of a big-endian int32 length and a raw snappy block);
//     librdkafka may write a raw snappy block. Both are decoded; Compress
//     writes xerial framing with 32 KiB blocks, as the Java client and
//     franz-go do;
//   - lz4: the LZ4 frame format (KIP-57: the correct header checksum);
//   - zstd: zstd frames (KIP-110).

// xerialMagic starts a xerial-framed snappy stream; the header goes on with
// the int32 version and minimum compatible version, both 1.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	xerialBlockSize  = 32 << 10
	// maxZstdWindow bounds the history a zstd frame may ask the decoder to
	// keep. Kafka producers use at most 8 MiB (level 19).
	maxZstdWindow = 64 << 20
)

// Compress appends src compressed with codec c to dst. CodecNone appends src
// unchanged.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		buf := bytes.NewBuffer(dst)
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		dst = binary.BigEndian.AppendUint32(dst, 1)
		// An empty input still gets one (empty) block: decoders such as
		// franz-go's take a bare 16-byte header for a raw snappy block.
		for first := true; first || len(src) > 0; first = false {
			n := min(len(src), xerialBlockSize)
			need := snappy.MaxEncodedLen(n)
			dst = slices.Grow(dst, 4+need)
			at := len(dst)
			block := snappy.Encode(dst[at+4:at+4+need], src[:n])
			binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
			dst = dst[:at+4+len(block)]
			src = src[n:]
		}
		return dst, nil
	case CodecLZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			return dst, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return dst, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		return zstdEncoder.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
}

// Decompress returns src decompressed with codec c in a new buffer. More than
// limit decompressed bytes is ErrTooLarge (a decompression bomb); a corrupt
// stream is ErrCorrupt. It never allocates much more than limit, whatever
// the stream claims.
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(src), limit)
		}
		return append([]byte(nil), src...), nil
	case CodecGzip:
		r := gzipReaders.Get().(*gzip.Reader)
		defer gzipReaders.Put(r)
		if err := r.Reset(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return readLimited(c, r, len(src), limit)
	case CodecSnappy:
		if len(src) >= xerialHeaderSize && bytes.HasPrefix(src, xerialMagic) {
			return unxerial(src, limit)
		}
		return unsnappy(nil, src, limit)
	case CodecLZ4:
		r := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(r)
		r.Reset(bytes.NewReader(src))
		return readLimited(c, r, len(src), limit)
	case CodecZstd:
		d := zstdDecoders.Get().(*zstd.Decoder)
		defer zstdDecoders.Put(d)
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		out, err := readLimited(c, d, len(src), limit)
		d.Reset(nil) // drop the reference to src
		return out, err
	}
	return nil, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
}

// readLimited reads r to its end, failing beyond limit bytes. The buffer
// starts from a guess based on the compressed size and grows as data
// actually arrives, so a lying stream cannot make it allocate ahead.
func readLimited(c Codec, r io.Reader, srcLen, limit int) ([]byte, error) {
	out := make([]byte, 0, min(limit+1, max(512, 4*srcLen)))
	for zeros := 0; ; {
		if len(out) > limit {
			return nil, fmt.Errorf("%w: %s data decompresses to more than %d bytes", ErrTooLarge, c, limit)
		}
		if len(out) == cap(out) {
			out = slices.Grow(out, min(cap(out), limit+1-len(out)))
		}
		n, err := r.Read(out[len(out):min(cap(out), limit+1)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if n > 0 || err != nil {
			zeros = 0
		} else if zeros++; zeros > 100 {
			return nil, fmt.Errorf("%w: %s reader makes no progress", ErrCorrupt, c)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
		}
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: %s data decompresses to more than %d bytes", ErrTooLarge, c, limit)
	}
	return out, nil
}

// unsnappy appends the raw snappy block src, decoded, to dst, checking the
// length it claims against what limit leaves.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if n > limit-len(dst) {
		return nil, fmt.Errorf("%w: snappy data decompresses to more than %d bytes", ErrTooLarge, limit)
	}
	if dst == nil {
		dst = make([]byte, 0, n)
	}
	if cap(dst)-len(dst) < n {
		dst = append(dst, make([]byte, n)...)[:len(dst)]
	}
	out, err := snappy.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	return dst[:len(dst)+len(out)], nil
}

// unxerial decodes a xerial-framed snappy stream.
func unxerial(src []byte, limit int) ([]byte, error) {
	src = src[xerialHeaderSize:]
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, fmt.Errorf("%w: snappy: xerial block length truncated", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return nil, fmt.Errorf("%w: snappy: xerial block of %d bytes, %d left", ErrCorrupt, n, len(src))
		}
		var err error
		if out, err = unsnappy(out, src[:n], limit); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}
	lz4Writers  = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

	// zstdEncoder is safe for concurrent EncodeAll calls. With concurrency 1
	// it starts no goroutines.
	zstdEncoder = mustZstdEncoder()
	// zstdDecoders are streaming decoders; with concurrency 1 they decode
	// synchronously and start no goroutines.
	zstdDecoders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow),
		)
		if err != nil {
			panic(fmt.Sprintf("BUG: zstd decoder options: %v", err))
		}
		return d
	}}
)

func mustZstdEncoder() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(64<<10), zstd.WithZeroFrames(true))
	if err != nil {
		panic(fmt.Sprintf("BUG: zstd encoder options: %v", err))
	}
	return e
}
