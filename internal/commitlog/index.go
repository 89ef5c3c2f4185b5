package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Kafka's index entry formats (big-endian):
//
//	.index      relative offset int32 | file position int32          (8 bytes)
//	.timeindex  timestamp int64       | relative offset int32        (12 bytes)
//
// Offsets are relative to the segment's base offset. As in Kafka, an offset
// index entry names the last offset of the batch that starts at the position,
// and a time index entry names the largest timestamp seen so far in the
// segment and the last offset of the batch that carried it.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

type offsetEntry struct {
	rel uint32 // last offset of the batch - base
	pos uint32 // position of the batch in .log
}

type timeEntry struct {
	ts  int64
	rel uint32
}

var errBadIndex = errors.New("bad index")

// lookupOffset returns the position of the latest indexed batch whose last
// offset is <= rel, or 0.
func lookupOffset(idx []offsetEntry, rel int64) int64 {
	i := sort.Search(len(idx), func(i int) bool { return int64(idx[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(idx[i-1].pos)
}

// lookupTime returns the relative offset of the latest entry whose timestamp
// is below ts: every batch up to that entry's batch holds only timestamps < ts.
// ok is false when no entry qualifies.
func lookupTime(tidx []timeEntry, ts int64) (rel uint32, ok bool) {
	i := sort.Search(len(tidx), func(i int) bool { return tidx[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return tidx[i-1].rel, true
}

func appendOffsetIndex(dst []byte, idx []offsetEntry) []byte {
	for _, e := range idx {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

func appendTimeIndex(dst []byte, tidx []timeEntry) []byte {
	for _, e := range tidx {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// parseOffsetIndex decodes an .index file and checks it against the segment:
// entries strictly increasing in both fields and inside the log file. Kafka
// preallocates index files and pads them with zeros; a trailing run of
// all-zero entries after the first is treated as padding.
func parseOffsetIndex(b []byte, logSize int64) ([]offsetEntry, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("%w: offset index size %d", errBadIndex, len(b))
	}
	idx := make([]offsetEntry, 0, len(b)/offsetEntrySize)
	for i := 0; i < len(b); i += offsetEntrySize {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if n := len(idx); n > 0 {
			if e.rel == 0 && e.pos == 0 {
				break // preallocated padding
			}
			if e.rel <= idx[n-1].rel || e.pos <= idx[n-1].pos {
				return nil, fmt.Errorf("%w: offset index entry %d not increasing", errBadIndex, n)
			}
		}
		if int64(e.pos) >= logSize || e.rel > 1<<31-1 {
			if len(idx) == 0 && e.rel == 0 && e.pos == 0 {
				break
			}
			return nil, fmt.Errorf("%w: offset index entry %d position %d beyond log size %d", errBadIndex, len(idx), e.pos, logSize)
		}
		idx = append(idx, e)
	}
	return idx, nil
}

// parseTimeIndex decodes a .timeindex file: timestamps and offsets
// non-decreasing, trailing zero padding dropped.
func parseTimeIndex(b []byte, maxRel uint32) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: time index size %d", errBadIndex, len(b))
	}
	tidx := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if e.ts == 0 && e.rel == 0 && len(tidx) > 0 {
			break
		}
		if n := len(tidx); n > 0 && (e.ts <= tidx[n-1].ts || e.rel < tidx[n-1].rel) {
			return nil, fmt.Errorf("%w: time index entry %d not increasing", errBadIndex, n)
		}
		if e.rel > maxRel {
			return nil, fmt.Errorf("%w: time index entry %d offset beyond segment", errBadIndex, len(tidx))
		}
		tidx = append(tidx, e)
	}
	return tidx, nil
}
