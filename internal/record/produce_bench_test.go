package record

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// produceBatch builds a batch of 16 KiB of JSON-like records (about 2:1
// compressible, like typical event payloads) with codec c. Every codec gets
// the same records, from a fixed seed.
func produceBatch(tb testing.TB, c Codec) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	bl := NewBuilder(plainOpts(c))
	size := 0
	for i := int32(0); size < 16<<10; i++ {
		key := fmt.Appendf(nil, "user-%d", rng.IntN(1000))
		value := fmt.Appendf(nil, `{"id":%d,"ts":%d,"page":"/p/%d","ref":"%016x","ok":%t}`,
			i, 1_700_000_000_000+rng.Int64N(1e6), rng.IntN(50), rng.Uint64(), rng.IntN(2) == 0)
		bl.Add(Record{OffsetDelta: i, TimestampDelta: int64(i), Key: key, Value: value})
		size += len(key) + len(value)
	}
	b, err := bl.Build(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkProduceValidation measures what the produce handler spends
// validating one 16 KiB batch (docs/adr/0007-produce-validation.md):
//
//   - crc: the CRC32C check alone, the floor of any validation;
//   - header: Validate, the batch-level checks, without the record walk (what
//     a compressed batch would cost if records were not checked);
//   - produce: the handler's path, Validate and, for a compressed batch,
//     ValidateRecords (decompress once, walk every record).
//
// Each codec's batch holds the same records; compare ratios within one run.
func BenchmarkProduceValidation(b *testing.B) {
	for _, c := range []Codec{CodecNone, CodecLZ4, CodecZstd} {
		batch := produceBatch(b, c)
		h, err := Validate(batch, ValidateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.String()+"/crc", func(b *testing.B) {
			for b.Loop() {
				if Checksum(batch) != h.CRC {
					b.Fatal("crc mismatch")
				}
			}
		})
		b.Run(c.String()+"/header", func(b *testing.B) {
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{MaxBatchBytes: 1 << 20, SkipRecords: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.String()+"/produce", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h, err := Validate(batch, ValidateOptions{MaxBatchBytes: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				if h.Codec() != CodecNone {
					if err := ValidateRecords(batch, &h, 64<<20, false); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(batch)), "batch-bytes")
		})
	}
}
