package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testRecords returns n records with consecutive offset deltas, covering
// null and empty keys and values and headers.
func testRecords(rng *rand.Rand, n int, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int64(rng.IntN(1000))
		switch i % 4 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", i)
		}
		if i%5 != 3 {
			r.Value = bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(valueSize+1))
		}
		for j := range i % 3 {
			var v []byte
			if j == 1 {
				v = []byte("hv")
			}
			r.Headers = append(r.Headers, RecordHeader{Key: fmt.Sprintf("h%d", j), Value: v})
		}
	}
	return recs
}

func build(t testing.TB, opts BuilderOptions, recs []Record) []byte {
	t.Helper()
	b := NewBuilder(opts)
	for _, r := range recs {
		b.Add(r)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out
}

func plainOpts(c Codec) BuilderOptions {
	return BuilderOptions{Codec: c, BaseOffset: 100, BaseTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// normalize makes records comparable across decoders: empty header lists
// become nil.
func normalize(recs []Record) []Record {
	for i := range recs {
		if len(recs[i].Headers) == 0 {
			recs[i].Headers = nil
		}
	}
	return recs
}

func TestBuildValidateDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := testRecords(rng, 50, 300)
			opts := plainOpts(c)
			opts.PartitionLeaderEpoch = 7
			b := build(t, opts, recs)
			h, err := Validate(b, ValidateOptions{})
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if h.Codec() != c || h.NumRecords != 50 || h.LastOffsetDelta != 49 || h.BaseOffset != 100 ||
				h.PartitionLeaderEpoch != 7 || h.Size() != len(b) || h.ProducerID != -1 {
				t.Errorf("header = %+v", h)
			}
			var maxTS int64
			for _, r := range recs {
				maxTS = max(maxTS, opts.BaseTimestamp+r.TimestampDelta)
			}
			if h.MaxTimestamp != maxTS {
				t.Errorf("MaxTimestamp = %d, want %d", h.MaxTimestamp, maxTS)
			}
			got, err := DecodeRecords(b, 1<<20)
			if err != nil {
				t.Fatalf("DecodeRecords: %v", err)
			}
			if diff := cmp.Diff(normalize(recs), normalize(got)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			// Null and empty stay distinct.
			if got[0].Key != nil || got[1].Key == nil || got[3].Value != nil {
				t.Errorf("null/empty keys or values lost: %q %q %q", got[0].Key, got[1].Key, got[3].Value)
			}
		})
	}
}

// kmsgBatch encodes recs with franz-go's kmsg types and kgo's compressor.
func kmsgBatch(t *testing.T, c Codec, opts BuilderOptions, recs []Record) []byte {
	t.Helper()
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // everything after a 1-byte zero length
		enc := kr.AppendTo(nil)
		raw = append(raw, enc...)
	}
	records := raw
	if c != CodecNone {
		comp, err := kgo.DefaultCompressor(codecToKgo(c))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		out, used := comp.Compress(&buf, raw)
		if used != kgo.CompressionCodecType(c) {
			t.Fatalf("kgo compressed with %v, want %v", used, c)
		}
		records = append([]byte(nil), out...)
	}
	var maxTD int64
	for _, r := range recs {
		maxTD = max(maxTD, r.TimestampDelta)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: opts.BaseOffset, PartitionLeaderEpoch: opts.PartitionLeaderEpoch, Magic: 2,
		Attributes: int16(c), LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: opts.BaseTimestamp,
		MaxTimestamp: opts.BaseTimestamp + maxTD, ProducerID: opts.ProducerID, ProducerEpoch: opts.ProducerEpoch,
		FirstSequence: opts.BaseSequence, NumRecords: int32(len(recs)), Records: records,
	}
	kb.Length = int32(HeaderSize - LogOverhead + len(records))
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

func codecToKgo(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// TestCrossCheckFranzGo checks our encoding against franz-go's kmsg types
// and kgo's compressors, both ways, for every codec.
func TestCrossCheckFranzGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := testRecords(rng, 40, 200)
			opts := plainOpts(c)
			opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 1234, 3, 77

			// franz-go → us.
			theirs := kmsgBatch(t, c, opts, recs)
			if _, err := Validate(theirs, ValidateOptions{}); err != nil {
				t.Fatalf("Validate(kmsg batch): %v", err)
			}
			got, err := DecodeRecords(theirs, 1<<20)
			if err != nil {
				t.Fatalf("DecodeRecords(kmsg batch): %v", err)
			}
			if diff := cmp.Diff(normalize(recs), normalize(got)); diff != "" {
				t.Errorf("records of kmsg batch (-want +got):\n%s", diff)
			}
			if c == CodecNone {
				// Uncompressed encodings are canonical: byte-identical.
				if ours := build(t, opts, recs); !bytes.Equal(ours, theirs) {
					t.Errorf("uncompressed batch differs from kmsg's")
				}
			}

			// us → franz-go.
			ours := build(t, opts, recs)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(ours); err != nil {
				t.Fatalf("kmsg ReadFrom: %v", err)
			}
			if kb.NumRecords != 40 || kb.FirstSequence != 77 || kb.ProducerID != 1234 || int(kb.Length) != len(ours)-LogOverhead {
				t.Errorf("kmsg header = %+v", kb)
			}
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatalf("kgo Decompress: %v", err)
			}
			for i, want := range recs {
				var kr kmsg.Record
				if err := kr.ReadFrom(raw); err != nil {
					t.Fatalf("kmsg record %d: %v", i, err)
				}
				raw = raw[sizeVarint(kr.Length)+int(kr.Length):]
				var hs []RecordHeader
				for _, h := range kr.Headers {
					hs = append(hs, RecordHeader{Key: h.Key, Value: h.Value})
				}
				got := Record{OffsetDelta: kr.OffsetDelta, TimestampDelta: kr.TimestampDelta64, Key: kr.Key, Value: kr.Value, Headers: hs}
				if got.TimestampDelta == 0 {
					got.TimestampDelta = int64(kr.TimestampDelta)
				}
				if diff := cmp.Diff(normalize([]Record{want}), normalize([]Record{got})); diff != "" {
					t.Fatalf("record %d read by kmsg (-want +got):\n%s", i, diff)
				}
			}
			if len(raw) != 0 {
				t.Errorf("%d bytes left after kmsg read all records", len(raw))
			}
		})
	}
}

// corrupt returns a copy of b with f applied and, if fixCRC, the CRC
// recomputed.
func corrupt(b []byte, fixCRC bool, f func(b []byte) []byte) []byte {
	c := f(append([]byte(nil), b...))
	if fixCRC && len(c) >= HeaderSize {
		binary.BigEndian.PutUint32(c[offCRC:], Checksum(c))
	}
	return c
}

func TestValidateErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	recs := testRecords(rng, 5, 20)
	good := build(t, plainOpts(CodecNone), recs)
	gzipped := build(t, plainOpts(CodecGzip), recs)
	f := func(name string, b []byte, opts ValidateOptions, want error) {
		t.Helper()
		_, err := Validate(b, opts)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: Validate = %v, want %v", name, err, want)
		}
	}
	put32 := func(off int, v int32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
	}
	put16 := func(off int, v int16) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint16(b[off:], uint16(v)); return b }
	}
	put64 := func(off int, v int64) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint64(b[off:], uint64(v)); return b }
	}
	none := ValidateOptions{}
	f("good", good, none, nil)
	f("good gzip", gzipped, none, nil)
	f("empty", nil, none, ErrCorrupt)
	f("short header", good[:HeaderSize-1], none, ErrCorrupt)
	f("truncated", good[:len(good)-1], none, ErrCorrupt)
	f("trailing byte", append(append([]byte(nil), good...), 0), none, ErrCorrupt)
	f("negative length", corrupt(good, false, put32(offBatchLength, -1)), none, ErrCorrupt)
	f("too large", good, ValidateOptions{MaxBatchBytes: len(good) - 1}, ErrTooLarge)
	f("exactly the limit", good, ValidateOptions{MaxBatchBytes: len(good)}, nil)
	f("magic 1", corrupt(good, true, func(b []byte) []byte { b[offMagic] = 1; return b }), none, ErrMagic)
	f("bit flip in a value", corrupt(good, false, func(b []byte) []byte { b[len(b)-3] ^= 1; return b }), none, ErrCorrupt)
	f("bit flip in the CRC", corrupt(good, false, func(b []byte) []byte { b[offCRC] ^= 0x80; return b }), none, ErrCorrupt)
	f("codec 5", corrupt(good, true, put16(offAttributes, 5)), none, ErrUnsupportedCodec)
	f("codec 7", corrupt(good, true, put16(offAttributes, 7)), none, ErrUnsupportedCodec)
	f("zero records", corrupt(good, true, put32(offNumRecords, 0)), none, ErrInvalid)
	f("negative records", corrupt(good, true, put32(offNumRecords, -1)), none, ErrInvalid)
	f("count above last offset delta+1", corrupt(good, true, put32(offNumRecords, 6)), none, ErrInvalid)
	f("count below last offset delta+1", corrupt(good, true, put32(offLastOffsetDelta, 5)), none, ErrInvalid)
	f("count below, gaps allowed, records contiguous", corrupt(good, true, put32(offLastOffsetDelta, 5)), ValidateOptions{AllowOffsetGaps: true}, nil)
	f("negative last offset delta", corrupt(good, true, put32(offLastOffsetDelta, -1)), ValidateOptions{AllowOffsetGaps: true}, ErrInvalid)
	f("huge count, compressed", corrupt(gzipped, true, func(b []byte) []byte {
		put32(offNumRecords, 1<<30)(b)
		return put32(offLastOffsetDelta, 1<<30-1)(b)
	}), none, nil) // not decompressed: DecodeRecords catches it
	f("pid without sequence", corrupt(good, true, put64(offProducerID, 5)), none, ErrInvalid)
	f("transactional without pid", corrupt(good, true, put16(offAttributes, attrTransactional)), none, ErrInvalid)
	control := AppendMarker(nil, Marker{ProducerID: 9, ProducerEpoch: 1, Commit: true})
	f("control from a client", control, none, ErrInvalid)
	f("control allowed", control, ValidateOptions{AllowControl: true}, nil)

	// Record-level damage, CRC fixed so that only the record walk sees it.
	recStart := HeaderSize
	f("record length too large", corrupt(good, true, func(b []byte) []byte { b[recStart] = 0x7e; return b }), none, ErrInvalid)
	f("record length negative", corrupt(good, true, func(b []byte) []byte { b[recStart] = 0x01; return b }), none, ErrInvalid)
	f("unterminated varint", corrupt(good, true, func(b []byte) []byte {
		for i := recStart; i < len(b); i++ {
			b[i] = 0xff
		}
		return b
	}), none, ErrInvalid)
	f("fewer records than counted", corrupt(good, true, func(b []byte) []byte {
		put32(offNumRecords, 6)(b)
		return put32(offLastOffsetDelta, 5)(b)
	}), none, ErrInvalid)
	f("more records than counted", corrupt(good, true, func(b []byte) []byte {
		put32(offNumRecords, 4)(b)
		return put32(offLastOffsetDelta, 3)(b)
	}), none, ErrInvalid)
	// SkipRecords keeps every batch-level check and skips only the walk.
	skip := ValidateOptions{SkipRecords: true}
	f("record damage, records skipped", corrupt(good, true, func(b []byte) []byte { b[recStart] = 0x7e; return b }), skip, nil)
	f("bit flip, records skipped", corrupt(good, false, func(b []byte) []byte { b[len(b)-3] ^= 1; return b }), skip, ErrCorrupt)
	f("zero records, records skipped", corrupt(good, true, put32(offNumRecords, 0)), skip, ErrInvalid)
	f("control from a client, records skipped", control, skip, ErrInvalid)

	// Hand-made records: field-level checks.
	one := func(rec []byte) []byte {
		b := build(t, plainOpts(CodecNone), []Record{{}})
		b = append(b[:HeaderSize], appendVarint(nil, int32(len(rec)))...)
		b = append(b, rec...)
		binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
		binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
		return b
	}
	rec := func(fields ...[]byte) []byte { return bytes.Join(fields, nil) }
	v := func(n int32) []byte { return appendVarint(nil, n) }
	attrs, ts, off0 := []byte{0}, v(0), v(0)
	f("minimal record", one(rec(attrs, ts, off0, v(-1), v(-1), v(0))), none, nil)
	f("key length -2", one(rec(attrs, ts, off0, v(-2), v(-1), v(0))), none, ErrInvalid)
	f("value length -2", one(rec(attrs, ts, off0, v(-1), v(-2), v(0))), none, ErrInvalid)
	f("value past record", one(rec(attrs, ts, off0, v(-1), v(5), []byte("ab"), v(0))), none, ErrInvalid)
	f("negative header count", one(rec(attrs, ts, off0, v(-1), v(-1), v(-1))), none, ErrInvalid)
	f("huge header count", one(rec(attrs, ts, off0, v(-1), v(-1), v(1<<30))), none, ErrInvalid)
	f("null header key", one(rec(attrs, ts, off0, v(-1), v(-1), v(1), v(-1), v(-1))), none, ErrInvalid)
	f("header", one(rec(attrs, ts, off0, v(-1), v(-1), v(1), v(1), []byte("k"), v(-1))), none, nil)
	f("trailing byte in record", one(rec(attrs, ts, off0, v(-1), v(-1), v(0), []byte{0})), none, ErrInvalid)
	f("offset delta 1 in first record", one(rec(attrs, ts, v(1), v(-1), v(-1), v(0))), none, ErrInvalid)
	f("6-byte varint", one(rec(attrs, ts, off0, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, v(-1), v(0))), none, ErrInvalid)
	f("varint overflowing int32", one(rec(attrs, ts, off0, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, v(-1), v(0))), none, ErrInvalid)
}

func TestValidateOffsetGaps(t *testing.T) {
	recs := []Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 3, Value: []byte("b")}, {OffsetDelta: 9, Value: []byte("c")}}
	opts := plainOpts(CodecNone)
	b := build(t, opts, recs)
	if _, err := Validate(b, ValidateOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("gapped batch without AllowOffsetGaps: %v, want ErrInvalid", err)
	}
	h, err := Validate(b, ValidateOptions{AllowOffsetGaps: true})
	if err != nil || h.LastOffsetDelta != 9 || h.NumRecords != 3 {
		t.Errorf("gapped batch: %+v, %v", h, err)
	}
	// LastOffsetDelta beyond the last record keeps the original range.
	opts.LastOffsetDelta = 20
	h, err = Validate(build(t, opts, recs), ValidateOptions{AllowOffsetGaps: true})
	if err != nil || h.LastOffsetDelta != 20 {
		t.Errorf("kept range: %+v, %v", h, err)
	}
	// An empty batch kept for producer state.
	opts.ProducerID, opts.BaseSequence = 5, 10
	empty := build(t, opts, nil)
	h, err = Validate(empty, ValidateOptions{AllowOffsetGaps: true})
	if err != nil || h.NumRecords != 0 || h.LastOffsetDelta != 20 {
		t.Errorf("empty batch: %+v, %v", h, err)
	}
	if _, err := Validate(empty, ValidateOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty batch from a client: %v, want ErrInvalid", err)
	}
	// Out-of-order deltas are refused by the builder.
	bad := NewBuilder(plainOpts(CodecNone))
	bad.Add(Record{OffsetDelta: 2})
	bad.Add(Record{OffsetDelta: 2})
	if _, err := bad.Build(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Build with repeated delta: %v", err)
	}
}

func TestBuilderOptions(t *testing.T) {
	recs := []Record{{OffsetDelta: 0, TimestampDelta: 5}, {OffsetDelta: 1, TimestampDelta: 50}}
	opts := BuilderOptions{Codec: CodecZstd, BaseOffset: 42, BaseTimestamp: 1000, ProducerID: 7, ProducerEpoch: 2,
		BaseSequence: 11, Transactional: true, PartitionLeaderEpoch: 3, DeleteHorizon: 900}
	b := build(t, opts, recs)
	h, err := Validate(b, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Header{BaseOffset: 42, BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 3, Magic: 2, CRC: h.CRC,
		Attributes: int16(CodecZstd) | attrTransactional | attrDeleteHorizon, LastOffsetDelta: 1, BaseTimestamp: 900,
		MaxTimestamp: 1050, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 11, NumRecords: 2}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if !h.HasDeleteHorizon() || !h.Transactional() || h.Control() || !h.Idempotent() {
		t.Errorf("attribute accessors wrong for %+v", h)
	}
	got, err := DecodeRecords(b, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	// Timestamps survive the rebase on the delete horizon.
	for i := range got {
		if ts := h.RecordTimestamp(&got[i]); ts != 1000+recs[i].TimestampDelta {
			t.Errorf("record %d timestamp = %d, want %d", i, ts, 1000+recs[i].TimestampDelta)
		}
	}
	// LogAppendTime: records take the max timestamp.
	SetLogAppendTime(b, 5555)
	h, err = Validate(b, ValidateOptions{})
	if err != nil || !h.LogAppendTime() || h.RecordTimestamp(&got[0]) != 5555 {
		t.Errorf("after SetLogAppendTime: %+v, %v", h, err)
	}
	// Build appends to dst and a Reset builder reuses its buffer.
	bl := NewBuilder(plainOpts(CodecNone))
	bl.Add(Record{Value: []byte("x")})
	out, err := bl.Build([]byte("prefix"))
	if err != nil || string(out[:6]) != "prefix" {
		t.Fatalf("Build(prefix) = %q, %v", out, err)
	}
	if _, err := Validate(out[6:], ValidateOptions{}); err != nil {
		t.Errorf("appended batch: %v", err)
	}
	bl.Reset(plainOpts(CodecNone))
	if bl.Len() != 0 {
		t.Errorf("Len after Reset = %d", bl.Len())
	}
}

func TestMarkers(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := AppendMarker(nil, Marker{BaseOffset: 10, Timestamp: 99, ProducerID: 4, ProducerEpoch: 2, Commit: commit, CoordinatorEpoch: 17, PartitionLeaderEpoch: 1})
		h, err := Validate(b, ValidateOptions{AllowControl: true})
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.BaseSequence != -1 || h.ProducerID != 4 || h.NumRecords != 1 {
			t.Errorf("marker header %+v", h)
		}
		recs, err := DecodeRecords(b, 100)
		if err != nil || len(recs) != 1 {
			t.Fatalf("DecodeRecords = %v, %v", recs, err)
		}
		typ, err := ParseControlRecord(recs[0].Key)
		want := ControlAbort
		if commit {
			want = ControlCommit
		}
		if err != nil || typ != want {
			t.Errorf("ParseControlRecord = %v, %v; want %v", typ, err, want)
		}
		if ep, err := ParseMarkerValue(recs[0].Value); err != nil || ep != 17 {
			t.Errorf("ParseMarkerValue = %d, %v", ep, err)
		}
		// kmsg agrees on the key and value layout.
		var kk kmsg.EndTxnMarker
		if err := kk.ReadFrom(recs[0].Value); err != nil || kk.CoordinatorEpoch != 17 {
			t.Errorf("kmsg EndTxnMarker = %+v, %v", kk, err)
		}
	}
	for _, tc := range []struct {
		key  []byte
		want ControlType
		err  error
	}{
		{[]byte{0, 0, 0, 1}, ControlCommit, nil},
		{[]byte{0, 0, 0, 0}, ControlAbort, nil},
		{[]byte{0, 1, 0, 3}, 3, nil}, // newer version, other type: accepted
		{[]byte{0, 0, 0}, 0, ErrInvalid},
		{[]byte{0xff, 0xff, 0, 1}, 0, ErrInvalid},
	} {
		got, err := ParseControlRecord(tc.key)
		if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("ParseControlRecord(%x) = %v, %v; want %v, %v", tc.key, got, err, tc.want, tc.err)
		}
	}
}
