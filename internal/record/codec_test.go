package record

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	inputs := map[string][]byte{
		"empty":  {},
		"small":  []byte("hello, kavka"),
		"zeros":  make([]byte, 200<<10), // several xerial blocks
		"random": func() []byte { b := make([]byte, 70<<10); fillRandom(rng, b); return b }(),
	}
	for _, c := range allCodecs {
		for name, in := range inputs {
			comp, err := Compress(c, []byte("prefix"), in)
			if err != nil {
				t.Fatalf("%s/%s: Compress: %v", c, name, err)
			}
			if string(comp[:6]) != "prefix" {
				t.Errorf("%s/%s: Compress did not append to dst", c, name)
			}
			out, err := Decompress(c, comp[6:], len(in))
			if err != nil {
				t.Fatalf("%s/%s: Decompress: %v", c, name, err)
			}
			if !bytes.Equal(out, in) {
				t.Errorf("%s/%s: round trip differs (%d bytes, want %d)", c, name, len(out), len(in))
			}
			// Kafka clients' decoder (franz-go) reads what we write.
			kout, err := kgo.DefaultDecompressor().Decompress(comp[6:], kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(kout, in) {
				t.Errorf("%s/%s: kgo Decompress: %v (equal %v)", c, name, err, bytes.Equal(kout, in))
			}
			if len(in) > 0 {
				if _, err := Decompress(c, comp[6:], len(in)-1); !errors.Is(err, ErrTooLarge) {
					t.Errorf("%s/%s: Decompress with limit one short: %v, want ErrTooLarge", c, name, err)
				}
			}
		}
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// TestDecompressForeignEncodings decodes what other Kafka clients write.
func TestDecompressForeignEncodings(t *testing.T) {
	data := bytes.Repeat([]byte("kafka record payload "), 5000)
	f := func(name string, c Codec, comp []byte) {
		t.Helper()
		out, err := Decompress(c, comp, len(data))
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s: Decompress = %d bytes, %v", name, len(out), err)
		}
	}
	// librdkafka: one raw snappy block.
	f("raw snappy", CodecSnappy, snappy.Encode(nil, data))
	// Java: xerial framing with its own block size.
	xer := append([]byte(nil), xerialMagic...)
	xer = binary.BigEndian.AppendUint32(xer, 1)
	xer = binary.BigEndian.AppendUint32(xer, 1)
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1000)
		blk := snappy.Encode(nil, rest[:n])
		xer = binary.BigEndian.AppendUint32(xer, uint32(len(blk)))
		xer = append(xer, blk...)
		rest = rest[n:]
	}
	f("xerial 1000-byte blocks", CodecSnappy, xer)
	// Standard library gzip, two members.
	var gz bytes.Buffer
	for _, part := range [][]byte{data[:1000], data[1000:]} {
		w := gzip.NewWriter(&gz)
		w.Write(part)
		w.Close()
	}
	f("gzip two members", CodecGzip, gz.Bytes())
	// lz4 frames with block checksums and 64 KiB blocks.
	var lz bytes.Buffer
	w := lz4.NewWriter(&lz)
	w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true), lz4.ChecksumOption(true))
	w.Write(data)
	w.Close()
	f("lz4 64k blocks", CodecLZ4, lz.Bytes())
	// zstd at a high level (bigger window), two frames.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	z := enc.EncodeAll(data[:7], nil)
	z = enc.EncodeAll(data[7:], z)
	enc.Close()
	f("zstd two frames", CodecZstd, z)
}

func TestDecompressBombs(t *testing.T) {
	big := make([]byte, 64<<20) // 64 MiB of zeros compresses to very little
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		comp, err := Compress(c, nil, big)
		if err != nil {
			t.Fatal(err)
		}
		// Warm the codec pools so that only the decompression is measured.
		Decompress(c, comp, 1<<20)
		// The fewest bytes over a few attempts: a pooled reader may be
		// gone when it is wanted (a GC empties sync.Pool, and under the
		// race detector Put drops items at random), and rebuilding it
		// is not what this test is about.
		least := uint64(1 << 62)
		for range 5 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := Decompress(c, comp, 1<<20); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s bomb (%d bytes): %v, want ErrTooLarge", c, len(comp), err)
			}
			runtime.ReadMemStats(&after)
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		if least > 8<<20 {
			t.Errorf("%s bomb: allocated %d bytes for a 1 MiB limit", c, least)
		}
	}
	// A raw snappy block that claims a huge length is refused before
	// allocating.
	claim := binary.AppendUvarint(nil, 1<<31)
	if _, err := Decompress(CodecSnappy, append(claim, 0, 0), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("snappy length claim: %v, want ErrTooLarge", err)
	}
	// A zstd frame whose header claims a huge content size.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	z := enc.EncodeAll(make([]byte, 4<<20), nil)
	enc.Close()
	if _, err := Decompress(CodecZstd, z, 1<<10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("zstd content-size claim: %v, want ErrTooLarge", err)
	}
}

func TestDecompressCorrupt(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		comp, _ := Compress(c, nil, data)
		cases := map[string][]byte{
			"garbage":         []byte("this is not compressed at all, not even a little"),
			"truncated":       comp[:len(comp)/2],
			"flipped":         func() []byte { b := bytes.Clone(comp); b[len(b)/2] ^= 0x55; return b }(),
			"truncated tail":  comp[:len(comp)-1],
			"header only":     comp[:min(len(comp), 10)],
			"xerial no block": append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0),
		}
		for name, in := range cases {
			out, err := Decompress(c, in, 1<<20)
			if err == nil {
				// A flipped bit may land in a literal of a codec without a
				// checksum (raw snappy blocks have none; xerial neither).
				if c == CodecSnappy && name == "flipped" {
					continue
				}
				t.Errorf("%s/%s: Decompress succeeded with %d bytes", c, name, len(out))
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s/%s: err = %v, want ErrCorrupt", c, name, err)
			}
		}
	}
	if _, err := Decompress(Codec(5), nil, 10); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("codec 5: %v", err)
	}
	if _, err := Compress(Codec(6), nil, nil); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("Compress codec 6: %v", err)
	}
}

func TestDecodeRecordsLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	recs := testRecords(rng, 20, 500)
	for _, c := range allCodecs {
		b := build(t, plainOpts(c), recs)
		if _, err := DecodeRecords(b, 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: DecodeRecords with a small limit: %v, want ErrTooLarge", c, err)
		}
	}
	// A compressed batch whose header claims far more records than the
	// decompressed bytes can hold is refused before allocating.
	b := build(t, plainOpts(CodecZstd), recs)
	binary.BigEndian.PutUint32(b[offNumRecords:], 1<<30)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 1<<30-1)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	if _, err := DecodeRecords(b, 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("huge record count: %v, want ErrInvalid", err)
	}
	// Compressed records with a wrong count.
	binary.BigEndian.PutUint32(b[offNumRecords:], 21)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 20)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	if _, err := DecodeRecords(b, 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("count one too many: %v, want ErrInvalid", err)
	}
}

func TestBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var all []byte
	var sizes []int
	for i, c := range allCodecs {
		opts := plainOpts(c)
		opts.BaseOffset = int64(i * 100)
		b := build(t, opts, testRecords(rng, 10, 50))
		all = append(all, b...)
		sizes = append(sizes, len(b))
	}
	f := func(name string, b []byte, wantN int, wantErr error) {
		t.Helper()
		it := NewBatches(b)
		n, pos := 0, 0
		for batch, h, ok := it.Next(); ok; batch, h, ok = it.Next() {
			if len(batch) != h.Size() || !bytes.Equal(batch, b[pos:pos+len(batch)]) {
				t.Errorf("%s: batch %d does not match its bytes", name, n)
			}
			if _, err := Validate(batch, ValidateOptions{}); err != nil {
				t.Errorf("%s: batch %d: %v", name, n, err)
			}
			pos += len(batch)
			n++
			if n > 100 {
				t.Fatalf("%s: runaway iteration", name)
			}
		}
		if n != wantN || !errors.Is(it.Err(), wantErr) || (wantErr == nil) != (it.Err() == nil) {
			t.Errorf("%s: %d batches, err %v; want %d, %v", name, n, it.Err(), wantN, wantErr)
		}
		if it.Pos() != pos {
			t.Errorf("%s: Pos = %d, want %d", name, it.Pos(), pos)
		}
		if _, _, ok := it.Next(); ok {
			t.Errorf("%s: Next after the end returned a batch", name)
		}
	}
	f("all", all, 5, nil)
	f("empty", nil, 0, nil)
	f("torn in the length prefix", all[:sizes[0]+5], 1, ErrTruncated)
	f("torn in a header", all[:sizes[0]+30], 1, ErrTruncated)
	f("torn in the records", all[:len(all)-1], 4, ErrTruncated)
	zeroTail := append(bytes.Clone(all), make([]byte, 100)...)
	f("zeros after the batches (preallocated file)", zeroTail, 5, ErrCorrupt)
	huge := bytes.Clone(all)
	binary.BigEndian.PutUint32(huge[sizes[0]+offBatchLength:], 1<<31-1)
	f("huge length", huge, 1, ErrTruncated)
	neg := bytes.Clone(all)
	binary.BigEndian.PutUint32(neg[offBatchLength:], 0xffffffff)
	f("negative length", neg, 0, ErrCorrupt)
	magic := bytes.Clone(all)
	magic[sizes[0]+offMagic] = 1
	f("magic 1", magic, 1, ErrMagic)
}
