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
