package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// seedBatches returns one valid batch per codec, a marker and a gapped
// batch, for the fuzz corpora.
func seedBatches(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(13, 14))
	var seeds [][]byte
	for _, c := range allCodecs {
		seeds = append(seeds, build(t, plainOpts(c), testRecords(rng, 5, 30)))
	}
	seeds = append(seeds, AppendMarker(nil, Marker{ProducerID: 1, Commit: true}))
	seeds = append(seeds, build(t, plainOpts(CodecNone), []Record{{OffsetDelta: 2, Value: []byte("v")}}))
	return seeds
}

// fixFraming makes the fuzzer's mutations reach past the CRC: it sets the
// batch length to match b and recomputes the CRC.
func fixFraming(b []byte) {
	if len(b) >= HeaderSize {
		binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
		binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	}
}

// knownError reports whether err wraps one of the package's sentinels.
func knownError(err error) bool {
	for _, s := range []error{ErrCorrupt, ErrInvalid, ErrTooLarge, ErrUnsupportedCodec, ErrMagic, ErrTimestamp, ErrTruncated} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzValidate(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s, false, false, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, control, gaps, fix bool) {
		if fix {
			fixFraming(b)
		}
		opts := ValidateOptions{AllowControl: control, AllowOffsetGaps: gaps, MaxBatchBytes: 1 << 20}
		h, err := Validate(b, opts)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("Validate: error %v wraps no sentinel", err)
			}
			return
		}
		if h.Size() != len(b) || Checksum(b) != h.CRC {
			t.Fatalf("Validate accepted a batch with size %d (len %d) or a bad CRC", h.Size(), len(b))
		}
		// An accepted batch re-parses through the iterator.
		it := NewBatches(b)
		if _, _, ok := it.Next(); !ok {
			t.Fatalf("Batches rejects a valid batch: %v", it.Err())
		}
		// An accepted uncompressed batch decodes.
		if h.Codec() == CodecNone {
			if _, err := DecodeRecords(b, len(b)); err != nil {
				t.Fatalf("DecodeRecords of a valid batch: %v", err)
			}
		}
	})
}

func FuzzBatches(f *testing.F) {
	seeds := seedBatches(f)
	f.Add(bytes.Join(seeds, nil))
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it := NewBatches(b)
		total := 0
		for i := 0; ; i++ {
			batch, h, ok := it.Next()
			if !ok {
				break
			}
			if len(batch) != h.Size() || len(batch) < HeaderSize {
				t.Fatalf("batch of %d bytes, header size %d", len(batch), h.Size())
			}
			total += len(batch)
			if i > len(b)/HeaderSize {
				t.Fatalf("more batches than the bytes can hold")
			}
		}
		if total != it.Pos() {
			t.Fatalf("Pos = %d, batches total %d", it.Pos(), total)
		}
		if err := it.Err(); err == nil && total != len(b) {
			t.Fatalf("clean end after %d of %d bytes", total, len(b))
		} else if err != nil && !knownError(err) {
			t.Fatalf("Err %v wraps no sentinel", err)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			fixFraming(b)
		}
		const limit = 1 << 16
		recs, err := DecodeRecords(b, limit)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("DecodeRecords: error %v wraps no sentinel", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
		}
		// What decoded re-encodes to the same records.
		bl := NewBuilder(BuilderOptions{Codec: CodecNone, ProducerID: -1, BaseSequence: -1})
		for _, r := range recs {
			bl.Add(r)
		}
		out, err := bl.Build(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeRecords(out, 1<<30)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d records, %v", len(again), err)
		}
	})
}

func FuzzDecompress(f *testing.F) {
	data := bytes.Repeat([]byte("fuzz me "), 300)
	for _, c := range allCodecs {
		comp, err := Compress(c, nil, data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(int8(c), comp)
	}
	f.Fuzz(func(t *testing.T, c int8, src []byte) {
		const limit = 1 << 14
		out, err := Decompress(Codec(c), src, limit)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("Decompress: error %v wraps no sentinel", err)
			}
			return
		}
		if len(out) > limit || cap(out) > 2*limit+4096 {
			t.Fatalf("Decompress returned %d bytes (cap %d) for limit %d", len(out), cap(out), limit)
		}
	})
}
