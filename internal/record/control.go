package record

import (
	"encoding/binary"
	"fmt"
)

// ControlType is the type of a control record, from its key.
type ControlType int16

// Control record types. Kafka's KRaft log defines more (leader change,
// snapshot header and footer, …); ParseControlRecord returns them as they
// are.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

func (t ControlType) String() string {
	switch t {
	case ControlAbort:
		return "abort"
	case ControlCommit:
		return "commit"
	}
	return fmt.Sprintf("control(%d)", int16(t))
}

// ParseControlRecord returns the type in a control record's key: an int16
// version (0; later versions are accepted, as Kafka does) and an int16 type.
// Mirrors Kafka's ControlRecordType.parseTypeId.
func ParseControlRecord(key []byte) (ControlType, error) {
	if len(key) < 4 {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrInvalid, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v < 0 {
		return 0, fmt.Errorf("%w: control record key version %d", ErrInvalid, v)
	}
	return ControlType(binary.BigEndian.Uint16(key[2:])), nil
}

// Marker describes a transaction marker: the control batch a transaction
// coordinator has written to every partition of a transaction when it ends.
type Marker struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Timestamp            int64
	ProducerID           int64
	ProducerEpoch        int16
	Commit               bool // false: abort
	CoordinatorEpoch     int32
}

// AppendMarker appends the marker batch for m to dst: an uncompressed
// transactional control batch with base sequence -1 and one record whose
// key is (version 0, type) and whose value is Kafka's EndTransactionMarker
// (version 0, coordinator epoch).
func AppendMarker(dst []byte, m Marker) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	var key [4]byte
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	var value [6]byte
	binary.BigEndian.PutUint32(value[2:], uint32(m.CoordinatorEpoch))
	b := NewBuilder(BuilderOptions{
		Codec:                CodecNone,
		BaseOffset:           m.BaseOffset,
		BaseTimestamp:        m.Timestamp,
		ProducerID:           m.ProducerID,
		ProducerEpoch:        m.ProducerEpoch,
		BaseSequence:         -1,
		Transactional:        true,
		Control:              true,
		PartitionLeaderEpoch: m.PartitionLeaderEpoch,
	})
	b.Add(Record{Key: key[:], Value: value[:]})
	out, err := b.Build(dst)
	if err != nil {
		panic(fmt.Sprintf("BUG: building a marker batch: %v", err))
	}
	return out
}

// ParseMarkerValue returns the coordinator epoch in a transaction marker's
// value (Kafka's EndTransactionMarker: int16 version, int32 coordinator
// epoch).
func ParseMarkerValue(value []byte) (coordinatorEpoch int32, err error) {
	if len(value) < 6 {
		return 0, fmt.Errorf("%w: marker value of %d bytes", ErrInvalid, len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v < 0 {
		return 0, fmt.Errorf("%w: marker value version %d", ErrInvalid, v)
	}
	return int32(binary.BigEndian.Uint32(value[2:])), nil
}
