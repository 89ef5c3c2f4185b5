package connect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Converter turns Connect values into the bytes stored in Kafka and back.
// The worker uses one for keys and one for values (key.converter,
// value.converter). Mirrors org.apache.kafka.connect.storage.Converter.
type Converter interface {
	// Configure receives the converter's settings (the key.converter.* or
	// value.converter.* keys with the prefix removed).
	Configure(cfg map[string]string, isKey bool) error
	FromConnect(topic string, s *Schema, v any) ([]byte, error)
	ToConnect(topic string, b []byte) (*Schema, any, error)
}

// Class names of the bundled converters, as Kafka spells them.
const (
	ByteArrayConverterClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
	StringConverterClass    = "org.apache.kafka.connect.storage.StringConverter"
	JSONConverterClass      = "org.apache.kafka.connect.json.JsonConverter"
)

// NewConverter returns the converter for a class name (Kafka's full name or
// the simple one, e.g. "JsonConverter"), unconfigured.
func NewConverter(class string) (Converter, error) {
	switch shortName(class) {
	case "ByteArrayConverter":
		return &ByteArrayConverter{}, nil
	case "StringConverter":
		return &StringConverter{}, nil
	case "JsonConverter":
		return &JSONConverter{SchemasEnable: true}, nil
	}
	return nil, fmt.Errorf("unknown converter class %q", class)
}

// ConverterClasses lists the bundled converters.
func ConverterClasses() []string {
	return []string{ByteArrayConverterClass, JSONConverterClass, StringConverterClass}
}

func shortName(class string) string {
	for i := len(class) - 1; i >= 0; i-- {
		if class[i] == '.' {
			return class[i+1:]
		}
	}
	return class
}

// ByteArrayConverter passes bytes through unchanged.
type ByteArrayConverter struct{}

// Configure implements Converter.
func (*ByteArrayConverter) Configure(map[string]string, bool) error { return nil }

// FromConnect implements Converter; v must be []byte or nil.
func (*ByteArrayConverter) FromConnect(_ string, _ *Schema, v any) ([]byte, error) {
	switch b := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", v)
}

// ToConnect implements Converter.
func (*ByteArrayConverter) ToConnect(_ string, b []byte) (*Schema, any, error) {
	if b == nil {
		return OptionalBytesSchema, nil, nil
	}
	return OptionalBytesSchema, b, nil
}

// StringConverter stores values as UTF-8 text.
type StringConverter struct{}

// Configure implements Converter.
func (*StringConverter) Configure(map[string]string, bool) error { return nil }

// FromConnect implements Converter: strings as they are, bytes as text,
// other values in their fmt form.
func (*StringConverter) FromConnect(_ string, _ *Schema, v any) ([]byte, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(s), nil
	case []byte:
		return s, nil
	}
	return fmt.Append(nil, v), nil
}

// ToConnect implements Converter.
func (*StringConverter) ToConnect(_ string, b []byte) (*Schema, any, error) {
	if b == nil {
		return OptionalStringSchema, nil, nil
	}
	return OptionalStringSchema, string(b), nil
}

// JSONConverter stores values as JSON. With SchemasEnable (the default, key
// "schemas.enable") every message is an envelope {"schema": …, "payload": …}
// as Kafka's JsonConverter writes it; without, it is the bare value.
type JSONConverter struct {
	SchemasEnable bool
}

// Configure implements Converter.
func (c *JSONConverter) Configure(cfg map[string]string, _ bool) error {
	c.SchemasEnable = true
	if v, ok := cfg["schemas.enable"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("schemas.enable: %w", err)
		}
		c.SchemasEnable = b
	}
	return nil
}

// FromConnect implements Converter.
func (c *JSONConverter) FromConnect(_ string, s *Schema, v any) ([]byte, error) {
	if s == nil && v == nil {
		return nil, nil
	}
	if err := Validate(s, v); err != nil {
		return nil, fmt.Errorf("json converter: %w", err)
	}
	var buf bytes.Buffer
	if c.SchemasEnable {
		buf.WriteString(`{"schema":`)
		writeSchemaJSON(&buf, s)
		buf.WriteString(`,"payload":`)
	}
	if err := writeValueJSON(&buf, s, v); err != nil {
		return nil, err
	}
	if c.SchemasEnable {
		buf.WriteByte('}')
	}
	return buf.Bytes(), nil
}

// ToConnect implements Converter.
func (c *JSONConverter) ToConnect(_ string, b []byte) (*Schema, any, error) {
	if b == nil {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("json converter: %w", err)
	}
	if !c.SchemasEnable {
		return nil, schemaless(raw), nil
	}
	env, ok := raw.(map[string]any)
	_, hasSchema := env["schema"]
	_, hasPayload := env["payload"]
	if !ok || len(env) != 2 || !hasSchema || !hasPayload {
		return nil, nil, fmt.Errorf(`json converter: with schemas.enable the message must be an envelope with only "schema" and "payload" fields; set schemas.enable=false for plain JSON`)
	}
	if env["schema"] == nil {
		return nil, schemaless(env["payload"]), nil
	}
	s, err := parseSchemaJSON(env["schema"])
	if err != nil {
		return nil, nil, fmt.Errorf("json converter: schema: %w", err)
	}
	v, err := fromJSON(s, env["payload"])
	if err != nil {
		return nil, nil, fmt.Errorf("json converter: payload: %w", err)
	}
	return s, v, nil
}

func writeSchemaJSON(buf *bytes.Buffer, s *Schema) {
	if s == nil {
		buf.WriteString("null")
		return
	}
	buf.WriteString(`{"type":`)
	writeString(buf, string(s.Type))
	switch s.Type {
	case Struct:
		buf.WriteString(`,"fields":[`)
		for i, f := range s.Fields {
			if i > 0 {
				buf.WriteByte(',')
			}
			var fb bytes.Buffer
			writeSchemaJSON(&fb, f.Schema)
			fs := fb.Bytes()
			buf.Write(fs[:len(fs)-1])
			buf.WriteString(`,"field":`)
			writeString(buf, f.Name)
			buf.WriteByte('}')
		}
		buf.WriteByte(']')
	case Array:
		buf.WriteString(`,"items":`)
		writeSchemaJSON(buf, s.Items)
	case Map:
		buf.WriteString(`,"keys":`)
		writeSchemaJSON(buf, s.Keys)
		buf.WriteString(`,"values":`)
		writeSchemaJSON(buf, s.Items)
	}
	buf.WriteString(`,"optional":`)
	buf.WriteString(strconv.FormatBool(s.Optional))
	if s.Name != "" {
		buf.WriteString(`,"name":`)
		writeString(buf, s.Name)
	}
	if s.Version != 0 {
		buf.WriteString(`,"version":`)
		buf.WriteString(strconv.Itoa(s.Version))
	}
	if s.Doc != "" {
		buf.WriteString(`,"doc":`)
		writeString(buf, s.Doc)
	}
	if len(s.Parameters) > 0 {
		p, _ := json.Marshal(s.Parameters) // map[string]string always encodes
		buf.WriteString(`,"parameters":`)
		buf.Write(p)
	}
	if s.Default != nil {
		var d bytes.Buffer
		if writeValueJSON(&d, s, s.Default) == nil {
			buf.WriteString(`,"default":`)
			buf.Write(d.Bytes())
		}
	}
	buf.WriteByte('}')
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always encodes
	buf.Write(b)
}

// writeValueJSON writes v; struct fields follow the schema's order so the
// output is deterministic.
func writeValueJSON(buf *bytes.Buffer, s *Schema, v any) error {
	if v == nil && s != nil && s.Default != nil {
		v = s.Default
	}
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case []byte:
		writeString(buf, base64.StdEncoding.EncodeToString(x))
	case float32:
		return writeFloat(buf, float64(x), 32)
	case float64:
		return writeFloat(buf, x, 64)
	case map[string]any:
		buf.WriteByte('{')
		if s != nil && s.Type == Struct {
			for i, f := range s.Fields {
				if i > 0 {
					buf.WriteByte(',')
				}
				writeString(buf, f.Name)
				buf.WriteByte(':')
				if err := writeValueJSON(buf, f.Schema, x[f.Name]); err != nil {
					return err
				}
			}
		} else {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var items *Schema
			if s != nil {
				items = s.Items
			}
			for i, k := range keys {
				if i > 0 {
					buf.WriteByte(',')
				}
				writeString(buf, k)
				buf.WriteByte(':')
				if err := writeValueJSON(buf, items, x[k]); err != nil {
					return err
				}
			}
		}
		buf.WriteByte('}')
	case []any:
		var items *Schema
		if s != nil {
			items = s.Items
		}
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeValueJSON(buf, items, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("json converter: %w", err)
		}
		buf.Write(b)
	}
	return nil
}

func writeFloat(buf *bytes.Buffer, f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("json converter: cannot encode %v", f)
	}
	buf.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	return nil
}

func parseSchemaJSON(raw any) (*Schema, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema must be an object, got %T", raw)
	}
	t, _ := m["type"].(string)
	s := &Schema{Type: Type(t)}
	s.Optional, _ = m["optional"].(bool)
	s.Name, _ = m["name"].(string)
	s.Doc, _ = m["doc"].(string)
	if n, ok := m["version"].(json.Number); ok {
		v, _ := n.Int64()
		s.Version = int(v)
	}
	if p, ok := m["parameters"].(map[string]any); ok {
		s.Parameters = map[string]string{}
		for k, v := range p {
			s.Parameters[k] = fmt.Sprint(v)
		}
	}
	var err error
	switch s.Type {
	case Int8, Int16, Int32, Int64, Float32, Float64, Boolean, String, Bytes:
	case Struct:
		fields, _ := m["fields"].([]any)
		for i, f := range fields {
			fm, _ := f.(map[string]any)
			name, _ := fm["field"].(string)
			if name == "" {
				return nil, fmt.Errorf("struct field %d has no name", i)
			}
			fs, err := parseSchemaJSON(f)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			s.Fields = append(s.Fields, Field{Name: name, Schema: fs})
		}
	case Array:
		if s.Items, err = parseSchemaJSON(m["items"]); err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
	case Map:
		if s.Keys, err = parseSchemaJSON(m["keys"]); err != nil {
			return nil, fmt.Errorf("map keys: %w", err)
		}
		if s.Items, err = parseSchemaJSON(m["values"]); err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown schema type %q", t)
	}
	if d, ok := m["default"]; ok && d != nil {
		if s.Default, err = fromJSON(s, d); err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
	}
	return s, nil
}

// fromJSON converts a decoded JSON value (numbers as json.Number) to the Go
// value for schema s.
func fromJSON(s *Schema, raw any) (any, error) {
	if raw == nil {
		if s.Default != nil {
			return s.Default, nil
		}
		if !s.Optional {
			return nil, fmt.Errorf("null for required %s", s.Type)
		}
		return nil, nil
	}
	bad := func() (any, error) { return nil, fmt.Errorf("JSON %T does not match schema type %s", raw, s.Type) }
	switch s.Type {
	case Int8, Int16, Int32, Int64:
		n, ok := raw.(json.Number)
		if !ok {
			return bad()
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Type, err)
		}
		switch s.Type {
		case Int8:
			if i < math.MinInt8 || i > math.MaxInt8 {
				return nil, fmt.Errorf("%d out of int8 range", i)
			}
			return int8(i), nil
		case Int16:
			if i < math.MinInt16 || i > math.MaxInt16 {
				return nil, fmt.Errorf("%d out of int16 range", i)
			}
			return int16(i), nil
		case Int32:
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, fmt.Errorf("%d out of int32 range", i)
			}
			return int32(i), nil
		}
		return i, nil
	case Float32, Float64:
		n, ok := raw.(json.Number)
		if !ok {
			return bad()
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Type, err)
		}
		if s.Type == Float32 {
			return float32(f), nil
		}
		return f, nil
	case Boolean:
		if b, ok := raw.(bool); ok {
			return b, nil
		}
		return bad()
	case String:
		if str, ok := raw.(string); ok {
			return str, nil
		}
		return bad()
	case Bytes:
		str, ok := raw.(string)
		if !ok {
			return bad()
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return nil, fmt.Errorf("bytes: %w", err)
		}
		return b, nil
	case Array:
		a, ok := raw.([]any)
		if !ok {
			return bad()
		}
		out := make([]any, len(a))
		for i, e := range a {
			v, err := fromJSON(s.Items, e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case Map:
		m, ok := raw.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			v, err := fromJSON(s.Items, e)
			if err != nil {
				return nil, fmt.Errorf("map value %q: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]any, len(s.Fields))
		for _, f := range s.Fields {
			v, err := fromJSON(f.Schema, m[f.Name])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out[f.Name] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown schema type %q", s.Type)
}

// schemaless converts decoded JSON to Connect values without a schema:
// integral numbers become int64, others float64.
func schemaless(raw any) any {
	switch x := raw.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, v := range x {
			x[k] = schemaless(v)
		}
		return x
	case []any:
		for i, v := range x {
			x[i] = schemaless(v)
		}
		return x
	}
	return raw
}
