package streams

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Serde converts values of type T to and from the bytes stored in Kafka
// topics and state stores. Implementations must be safe for concurrent use
// and must not keep a reference to the slices they are given or return.
//
// A nil byte slice is Kafka's null (a tombstone in a table); Serialize is
// never called for an absent value, and Deserialize is never called with nil
// by the library.
type Serde[T any] interface {
	Serialize(v T) ([]byte, error)
	Deserialize(b []byte) (T, error)
}

// SerdeFuncs adapts a pair of functions to a Serde.
type SerdeFuncs[T any] struct {
	Ser func(T) ([]byte, error)
	De  func([]byte) (T, error)
}

// Serialize implements Serde.
func (s SerdeFuncs[T]) Serialize(v T) ([]byte, error) { return s.Ser(v) }

// Deserialize implements Serde.
func (s SerdeFuncs[T]) Deserialize(b []byte) (T, error) { return s.De(b) }

// Bytes is the identity serde for []byte.
func Bytes() Serde[[]byte] { return bytesSerde{} }

// String encodes strings as their UTF-8 bytes.
func String() Serde[string] { return stringSerde{} }

// Int64 encodes int64 as 8 big-endian bytes, like Kafka's LongSerializer.
func Int64() Serde[int64] { return int64Serde{} }

// Int32 encodes int32 as 4 big-endian bytes, like Kafka's IntegerSerializer.
func Int32() Serde[int32] { return int32Serde{} }

// JSON encodes values with encoding/json.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type bytesSerde struct{}

func (bytesSerde) Serialize(v []byte) ([]byte, error) { return v, nil }
func (bytesSerde) Deserialize(b []byte) ([]byte, error) {
	return append([]byte(nil), b...), nil
}

type stringSerde struct{}

func (stringSerde) Serialize(v string) ([]byte, error)   { return []byte(v), nil }
func (stringSerde) Deserialize(b []byte) (string, error) { return string(b), nil }

type int64Serde struct{}

func (int64Serde) Serialize(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (int64Serde) Deserialize(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int64 serde: %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

type int32Serde struct{}

func (int32Serde) Serialize(v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(nil, uint32(v)), nil
}

func (int32Serde) Deserialize(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("int32 serde: %d bytes, want 4", len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(v T) ([]byte, error) { return json.Marshal(v) }
func (jsonSerde[T]) Deserialize(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// DefaultSerde returns the serde used when none is given for type T:
// Bytes for []byte, String for string, Int64 for int64, Int32 for int32 and
// JSON for everything else (including int, which is encoded as a JSON
// number).
func DefaultSerde[T any]() Serde[T] {
	var zero T
	var s any
	switch any(zero).(type) {
	case []byte:
		s = bytesSerde{}
	case string:
		s = stringSerde{}
	case int64:
		s = int64Serde{}
	case int32:
		s = int32Serde{}
	default:
		s = jsonSerde[T]{}
	}
	return s.(Serde[T])
}

// erasedSerde is a Serde with the type erased, as the runtime moves `any`
// between nodes; typed code at the DSL boundary guarantees the dynamic type.
type erasedSerde struct {
	ser func(any) ([]byte, error)
	de  func([]byte) (any, error)
}

func erase[T any](s Serde[T]) erasedSerde {
	return erasedSerde{
		ser: func(v any) ([]byte, error) {
			if v == nil {
				return nil, nil
			}
			t, ok := v.(T)
			if !ok {
				return nil, fmt.Errorf("serde: value of type %T, want %T", v, t)
			}
			return s.Serialize(t)
		},
		de: func(b []byte) (any, error) {
			if b == nil {
				return nil, nil
			}
			v, err := s.Deserialize(b)
			if err != nil {
				return nil, err
			}
			return v, nil
		},
	}
}

// as converts an erased value back to T; nil (a Kafka null) becomes T's zero value.
func as[T any](v any) T {
	if v == nil {
		var zero T
		return zero
	}
	return v.(T)
}
