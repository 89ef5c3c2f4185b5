package connect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONConverterEnvelope(t *testing.T) {
	s := NewStruct("row").
		Field("id", &Schema{Type: Int32}).
		Field("name", OptionalStringSchema).
		Field("blob", OptionalBytesSchema).
		Build()
	v := map[string]any{"id": int32(7), "name": "x", "blob": []byte{1, 2}}
	c := &JSONConverter{}
	if err := c.Configure(nil, false); err != nil {
		t.Fatal(err)
	}
	b, err := c.FromConnect("t", s, v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"bytes","optional":true,"field":"blob"}],"optional":false,"name":"row"},"payload":{"id":7,"name":"x","blob":"AQI="}}`
	if string(b) != want {
		t.Errorf("FromConnect =\n%s\nwant\n%s", b, want)
	}
	gs, gv, err := c.ToConnect("t", b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, gs); d != "" {
		t.Errorf("schema (-want +got):\n%s", d)
	}
	if d := cmp.Diff(v, gv); d != "" {
		t.Errorf("value (-want +got):\n%s", d)
	}
}

func TestJSONConverterSchemaless(t *testing.T) {
	c := &JSONConverter{}
	if err := c.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		t.Fatal(err)
	}
	s, v, err := c.ToConnect("t", []byte(`{"a":1,"b":1.5,"c":[true,"x"],"d":null}`))
	if err != nil || s != nil {
		t.Fatalf("ToConnect = %v, %v", s, err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": []any{true, "x"}, "d": nil}
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("value (-want +got):\n%s", d)
	}
	b, err := c.FromConnect("t", nil, v)
	if err != nil || string(b) != `{"a":1,"b":1.5,"c":[true,"x"],"d":null}` {
		t.Errorf("FromConnect = %s, %v", b, err)
	}
	// Without schemas.enable=false, plain JSON is refused with a hint.
	if _, _, err := (&JSONConverter{SchemasEnable: true}).ToConnect("t", []byte(`{"a":1}`)); err == nil {
		t.Error("envelope converter accepted plain JSON")
	}
	// Tombstones stay null.
	if b, err := c.FromConnect("t", nil, nil); b != nil || err != nil {
		t.Errorf("FromConnect(nil) = %q, %v", b, err)
	}
}

func TestJSONConverterRejectsBadInput(t *testing.T) {
	c := &JSONConverter{SchemasEnable: true}
	f := func(in string) {
		t.Helper()
		if _, _, err := c.ToConnect("t", []byte(in)); err == nil {
			t.Errorf("ToConnect(%s) succeeded", in)
		}
	}
	f(`{`)
	f(`{"schema":{"type":"int8","optional":false},"payload":300}`)
	f(`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}]},"payload":{}}`)
	f(`{"schema":{"type":"nope"},"payload":1}`)
	f(`{"schema":{"type":"bytes"},"payload":"!!"}`)
}

func TestStringAndBytesConverters(t *testing.T) {
	sc := &StringConverter{}
	if b, _ := sc.FromConnect("t", nil, int64(42)); string(b) != "42" {
		t.Errorf("StringConverter(42) = %q", b)
	}
	if _, v, _ := sc.ToConnect("t", []byte("hé")); v != "hé" {
		t.Errorf("StringConverter.ToConnect = %v", v)
	}
	bc := &ByteArrayConverter{}
	if _, err := bc.FromConnect("t", nil, "str"); err == nil {
		t.Error("ByteArrayConverter accepted a string")
	}
	for _, class := range ConverterClasses() {
		if _, err := NewConverter(class); err != nil {
			t.Error(err)
		}
	}
}
