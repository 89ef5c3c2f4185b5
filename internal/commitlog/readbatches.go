package commitlog

import (
	"fmt"

	"github.com/kavka-io/kavka/internal/record"
)

// ReadBatches appends to dst the bytes of the log's batches from its start
// offset up to the first one whose last offset is >= end (Read's maxOffset),
// as Read returns them (checked), and returns the extended slice. It stops early at a gap the cleaner left at
// the end of the log. It holds the whole range in memory: it is meant for
// checks of small logs (the simulations compare replicas byte for byte),
// not for a serving path.
func (l *Log) ReadBatches(dst []byte, end int64) ([]byte, error) {
	off := l.LogStartOffset()
	for off < end {
		s, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			return dst, fmt.Errorf("read %s-%d at %d: %w", l.Topic(), l.Partition(), off, err)
		}
		n := len(dst)
		dst, err = s.ReadAll(dst)
		s.Release()
		if err != nil {
			return dst, fmt.Errorf("read %s-%d at %d: %w", l.Topic(), l.Partition(), off, err)
		}
		next := off
		it := record.NewBatches(dst[n:])
		for _, h, ok := it.Next(); ok; _, h, ok = it.Next() {
			next = h.NextOffset()
		}
		if next <= off {
			break // nothing more below end (a gap, or an empty read)
		}
		off = next
	}
	return dst, nil
}
