package record

import (
	"bytes"
	"fmt"
	"testing"
)

// batchOf builds an uncompressed batch of about 16 KiB of records of
// valueSize bytes each.
func batchOf(tb testing.TB, valueSize int) []byte {
	bl := NewBuilder(plainOpts(CodecNone))
	value := bytes.Repeat([]byte{'v'}, valueSize)
	for i := int32(0); ; i++ {
		bl.Add(Record{OffsetDelta: i, TimestampDelta: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: value})
		if (int(i)+1)*(valueSize+16) >= 16<<10 {
			break
		}
	}
	b, err := bl.Build(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkValidate(b *testing.B) {
	for _, size := range []int{100, 1024} {
		batch := batchOf(b, size)
		b.Run(fmt.Sprintf("16KiB/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{MaxBatchBytes: 1 << 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	for _, size := range []int{100, 1024} {
		batch := batchOf(t, size)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := Validate(batch, ValidateOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Validate of %d-byte records: %v allocations, want 0", size, allocs)
		}
	}
}

// BenchmarkValidateRecords checks a compressed produced batch the way the
// produce handler does (decompress once, walk the records without keeping
// them), beside DecodeRecords, which also builds every Record, as the
// baseline in the same run.
func BenchmarkValidateRecords(b *testing.B) {
	for _, c := range []Codec{CodecLZ4, CodecZstd} {
		opts := plainOpts(c)
		bl := NewBuilder(opts)
		value := bytes.Repeat([]byte{'v'}, 100)
		for i := int32(0); i < 160; i++ {
			bl.Add(Record{OffsetDelta: i, TimestampDelta: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: value})
		}
		batch, err := bl.Build(nil)
		if err != nil {
			b.Fatal(err)
		}
		h, err := Validate(batch, ValidateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.String()+"/ValidateRecords", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := ValidateRecords(batch, &h, 64<<20, true); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.String()+"/DecodeRecords", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeRecords(batch, 64<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
