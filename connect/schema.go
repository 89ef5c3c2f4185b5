package connect

import (
	"fmt"
)

// Type is a Kafka Connect schema type, spelled as in Kafka's JSON schemas.
type Type string

// The schema types of Kafka Connect's data model.
const (
	Int8    Type = "int8"
	Int16   Type = "int16"
	Int32   Type = "int32"
	Int64   Type = "int64"
	Float32 Type = "float"
	Float64 Type = "double"
	Boolean Type = "boolean"
	String  Type = "string"
	Bytes   Type = "bytes"
	Array   Type = "array"
	Map     Type = "map"
	Struct  Type = "struct"
)

// Schema describes a value. Schemas are immutable once built: transforms
// that change the shape of a value build a new Schema.
type Schema struct {
	Type       Type
	Optional   bool
	Name       string
	Version    int
	Doc        string
	Default    any
	Parameters map[string]string

	Fields []Field // Struct: fields in order
	Keys   *Schema // Map: key schema
	Items  *Schema // Array: element schema; Map: value schema
}

// Field is one field of a struct schema.
type Field struct {
	Name   string
	Schema *Schema
}

// Field returns the struct field called name, or nil.
func (s *Schema) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Optional schemas of the primitive types, for convenience.
var (
	OptionalInt64Schema   = &Schema{Type: Int64, Optional: true}
	OptionalInt32Schema   = &Schema{Type: Int32, Optional: true}
	OptionalStringSchema  = &Schema{Type: String, Optional: true}
	OptionalBytesSchema   = &Schema{Type: Bytes, Optional: true}
	OptionalFloat64Schema = &Schema{Type: Float64, Optional: true}
	OptionalBooleanSchema = &Schema{Type: Boolean, Optional: true}
	StringSchema          = &Schema{Type: String}
	Int64Schema           = &Schema{Type: Int64}
	BytesSchema           = &Schema{Type: Bytes}
)

// Validate checks that v conforms to s. A nil schema accepts anything.
func Validate(s *Schema, v any) error {
	if s == nil {
		return nil
	}
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return fmt.Errorf("null value for required %s schema", s.Type)
	}
	ok := false
	switch s.Type {
	case Int8:
		_, ok = v.(int8)
	case Int16:
		_, ok = v.(int16)
	case Int32:
		_, ok = v.(int32)
	case Int64:
		_, ok = v.(int64)
	case Float32:
		_, ok = v.(float32)
	case Float64:
		_, ok = v.(float64)
	case Boolean:
		_, ok = v.(bool)
	case String:
		_, ok = v.(string)
	case Bytes:
		_, ok = v.([]byte)
	case Array:
		var a []any
		if a, ok = v.([]any); ok {
			for i, e := range a {
				if err := Validate(s.Items, e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
		}
	case Map:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			for k, e := range m {
				if err := Validate(s.Items, e); err != nil {
					return fmt.Errorf("map value %q: %w", k, err)
				}
			}
		}
	case Struct:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			for _, f := range s.Fields {
				if err := Validate(f.Schema, m[f.Name]); err != nil {
					return fmt.Errorf("field %s: %w", f.Name, err)
				}
			}
		}
	default:
		return fmt.Errorf("unknown schema type %q", s.Type)
	}
	if !ok {
		return fmt.Errorf("value of Go type %T does not match schema type %s", v, s.Type)
	}
	return nil
}

// StructBuilder builds a struct schema field by field.
type StructBuilder struct{ s Schema }

// NewStruct starts a struct schema called name (may be empty).
func NewStruct(name string) *StructBuilder {
	return &StructBuilder{s: Schema{Type: Struct, Name: name}}
}

// Field appends a field.
func (b *StructBuilder) Field(name string, s *Schema) *StructBuilder {
	b.s.Fields = append(b.s.Fields, Field{Name: name, Schema: s})
	return b
}

// Optional marks the struct optional.
func (b *StructBuilder) Optional() *StructBuilder { b.s.Optional = true; return b }

// Build returns the schema.
func (b *StructBuilder) Build() *Schema {
	s := b.s
	s.Fields = append([]Field(nil), b.s.Fields...)
	return &s
}
