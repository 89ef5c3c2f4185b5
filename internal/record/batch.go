package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte layout of a record batch header (magic 2). All integers are big-endian.
const (
	offBaseOffset           = 0  // int64
	offBatchLength          = 8  // int32: bytes after this field
	offPartitionLeaderEpoch = 12 // int32
	offMagic                = 16 // int8
	offCRC                  = 17 // uint32 CRC32C of bytes [21, end)
	offAttributes           = 21 // int16
	offLastOffsetDelta      = 23 // int32
	offBaseTimestamp        = 27 // int64
	offMaxTimestamp         = 35 // int64
	offProducerID           = 43 // int64
	offProducerEpoch        = 51 // int16
	offBaseSequence         = 53 // int32
	offNumRecords           = 57 // int32

	// HeaderSize is the size of a record batch header, records excluded.
	HeaderSize = 61
	// LogOverhead is the size of the base offset and batch length fields,
	// which BatchLength does not count.
	LogOverhead = 12
	// crcStart is where the bytes covered by the CRC begin.
	crcStart = offAttributes
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrTimestampType   = 0x08 // set: LogAppendTime
	attrTransactional   = 0x10
	attrControl         = 0x20
	attrDeleteHorizon   = 0x40 // KIP-534: BaseTimestamp is the delete horizon
)

// Codec is a compression codec as stored in a batch's attributes.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors returned by Parse and Validate. The broker maps them to Kafka error
// codes: ErrCorrupt → CORRUPT_MESSAGE, ErrInvalid → INVALID_RECORD,
// ErrTooLarge → MESSAGE_TOO_LARGE, ErrUnsupportedCodec →
// UNSUPPORTED_COMPRESSION_TYPE, ErrMagic → UNSUPPORTED_FOR_MESSAGE_FORMAT,
// ErrTimestamp → INVALID_TIMESTAMP.
var (
	ErrCorrupt          = errors.New("record: corrupt batch")
	ErrInvalid          = errors.New("record: invalid batch")
	ErrTooLarge         = errors.New("record: batch too large")
	ErrUnsupportedCodec = errors.New("record: unsupported compression codec")
	ErrMagic            = errors.New("record: unsupported magic")
	ErrTimestamp        = errors.New("record: invalid timestamp")
	// ErrTruncated means the bytes end inside a batch; a log reader treats
	// it as the end of the valid data.
	ErrTruncated = errors.New("record: truncated batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C a batch's header must carry: the checksum of
// everything from the attributes to the end of the batch.
func Checksum(batch []byte) uint32 {
	return crc32.Checksum(batch[crcStart:], castagnoli)
}

// Header is the decoded fixed-size header of a record batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size returns the whole size of the batch in bytes.
func (h *Header) Size() int { return LogOverhead + int(h.BatchLength) }

// LastOffset returns the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset returns the offset that follows the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec returns the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & attrCompressionMask) }

// LogAppendTime reports whether the batch's timestamps are LogAppendTime.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds a control record (a commit or
// abort marker).
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// HasDeleteHorizon reports whether BaseTimestamp holds the delete horizon
// set by the cleaner (KIP-534).
func (h *Header) HasDeleteHorizon() bool { return h.Attributes&attrDeleteHorizon != 0 }

// Idempotent reports whether the batch carries a producer id.
func (h *Header) Idempotent() bool { return h.ProducerID >= 0 }

// ParseHeader decodes the header at the start of b. It checks only that the
// header is present and that BatchLength is plausible; it does not require the
// whole batch to be in b and does not check the CRC.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrTruncated
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offPartitionLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if h.BatchLength < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.BatchLength)
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrMagic, h.Magic)
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b. The
// base offset is not covered by the CRC.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the partition leader epoch of the batch at
// the start of b. The epoch is not covered by the CRC.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the whole batch b as LogAppendTime with the given
// timestamp (milliseconds), as Kafka's LogValidator does for topics with
// message.timestamp.type=LogAppendTime, and recomputes the CRC. Consumers
// take every record's timestamp from MaxTimestamp for such batches.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrTimestampType
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}
