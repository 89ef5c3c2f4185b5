package connect

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func chain(t *testing.T, kv ...string) *Chain {
	t.Helper()
	cfg := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	c, err := NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var rowSchema = NewStruct("row").
	Field("id", &Schema{Type: Int64}).
	Field("email", OptionalStringSchema).
	Field("age", OptionalInt32Schema).
	Build()

func row() Record {
	return Record{Topic: "users", Partition: 2, Offset: 9, Timestamp: time.UnixMilli(1700000000000),
		ValueSchema: rowSchema, Value: map[string]any{"id": int64(1), "email": "a@b", "age": int32(30)}}
}

func TestTransforms(t *testing.T) {
	f := func(name string, c *Chain, in Record, wantKeep bool, check func(Record)) {
		t.Helper()
		out, keep, err := c.Apply(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if keep != wantKeep {
			t.Errorf("%s: keep = %v, want %v", name, keep, wantKeep)
			return
		}
		if keep {
			check(out)
		}
	}
	eq := func(name string, want, got any) {
		t.Helper()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}

	f("InsertField", chain(t, "transforms", "i", "transforms.i.type", "org.apache.kafka.connect.transforms.InsertField$Value",
		"transforms.i.topic.field", "t!", "transforms.i.static.field", "src", "transforms.i.static.value", "pg",
		"transforms.i.offset.field", "off"), row(), true, func(r Record) {
		eq("InsertField value", map[string]any{"id": int64(1), "email": "a@b", "age": int32(30), "t": "users", "src": "pg", "off": int64(9)}, r.Value)
		if f := r.ValueSchema.Field("t"); f == nil || f.Schema.Optional {
			t.Errorf("InsertField: t field schema = %+v, want required string", f)
		}
		if err := Validate(r.ValueSchema, r.Value); err != nil {
			t.Errorf("InsertField: %v", err)
		}
	})

	f("ReplaceField", chain(t, "transforms", "r", "transforms.r.type", "ReplaceField$Value",
		"transforms.r.exclude", "age", "transforms.r.renames", "email:mail"), row(), true, func(r Record) {
		eq("ReplaceField value", map[string]any{"id": int64(1), "mail": "a@b"}, r.Value)
		eq("ReplaceField fields", 2, len(r.ValueSchema.Fields))
		eq("ReplaceField rename", "mail", r.ValueSchema.Fields[1].Name)
	})
	f("ReplaceField include", chain(t, "transforms", "r", "transforms.r.type", "ReplaceField$Value",
		"transforms.r.include", "id"), row(), true, func(r Record) {
		eq("include", map[string]any{"id": int64(1)}, r.Value)
	})

	f("MaskField", chain(t, "transforms", "m", "transforms.m.type", "MaskField$Value",
		"transforms.m.fields", "email,age"), row(), true, func(r Record) {
		eq("MaskField", map[string]any{"id": int64(1), "email": "", "age": int32(0)}, r.Value)
	})
	f("MaskField replacement", chain(t, "transforms", "m", "transforms.m.type", "MaskField$Value",
		"transforms.m.fields", "email", "transforms.m.replacement", "***"), row(), true, func(r Record) {
		eq("MaskField repl", "***", r.Value.(map[string]any)["email"])
	})

	f("ValueToKey+ExtractField$Key", chain(t, "transforms", "k,e",
		"transforms.k.type", "ValueToKey", "transforms.k.fields", "id",
		"transforms.e.type", "ExtractField$Key", "transforms.e.field", "id"), row(), true, func(r Record) {
		eq("key", int64(1), r.Key)
		eq("key schema", Int64, r.KeySchema.Type)
	})

	f("Cast fields", chain(t, "transforms", "c", "transforms.c.type", "Cast$Value",
		"transforms.c.spec", "id:string,age:float64"), row(), true, func(r Record) {
		eq("Cast", map[string]any{"id": "1", "email": "a@b", "age": float64(30)}, r.Value)
		if err := Validate(r.ValueSchema, r.Value); err != nil {
			t.Errorf("Cast: %v", err)
		}
	})
	f("Cast whole", chain(t, "transforms", "c", "transforms.c.type", "Cast$Key", "transforms.c.spec", "int32"),
		Record{Key: "12"}, true, func(r Record) { eq("Cast whole", int32(12), r.Key) })

	f("TimestampRouter", chain(t, "transforms", "tr", "transforms.tr.type", "TimestampRouter",
		"transforms.tr.topic.format", "${topic}_${timestamp}", "transforms.tr.timestamp.format", "yyyy-MM-dd'T'HH"), row(), true,
		func(r Record) { eq("topic", "users_2023-11-14T22", r.Topic) })

	f("RegexRouter", chain(t, "transforms", "rr", "transforms.rr.type", "RegexRouter",
		"transforms.rr.regex", "(us)(.*)", "transforms.rr.replacement", "$2-$1"), row(), true,
		func(r Record) { eq("topic", "ers-us", r.Topic) })

	filter := chain(t, "transforms", "drop", "transforms.drop.type", "org.apache.kafka.connect.transforms.Filter",
		"transforms.drop.predicate", "isUsers", "predicates", "isUsers",
		"predicates.isUsers.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
		"predicates.isUsers.pattern", "use.*")
	f("Filter matching", filter, row(), false, nil)
	other := row()
	other.Topic = "orders"
	f("Filter not matching", filter, other, true, func(r Record) { eq("topic", "orders", r.Topic) })

	negated := chain(t, "transforms", "drop", "transforms.drop.type", "Filter",
		"transforms.drop.predicate", "tomb", "transforms.drop.negate", "true",
		"predicates", "tomb", "predicates.tomb.type", "RecordIsTombstone")
	f("Filter keeps only tombstones", negated, row(), false, nil)
	f("tombstone kept", negated, Record{Topic: "x"}, true, func(Record) {})

	hdr := chain(t, "transforms", "drop", "transforms.drop.type", "Filter", "transforms.drop.predicate", "h",
		"predicates", "h", "predicates.h.type", "HasHeaderKey", "predicates.h.name", "skip")
	withHdr := row()
	withHdr.Headers = []Header{{Key: "skip"}}
	f("HasHeaderKey", hdr, withHdr, false, nil)
}

func TestSchemalessTransforms(t *testing.T) {
	c := chain(t, "transforms", "i,r", "transforms.i.type", "InsertField$Value", "transforms.i.partition.field", "p",
		"transforms.r.type", "ReplaceField$Value", "transforms.r.exclude", "secret")
	out, _, err := c.Apply(Record{Topic: "t", Partition: 3, Value: map[string]any{"a": int64(1), "secret": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]any{"a": int64(1), "p": int32(3)}, out.Value); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestTransformErrors(t *testing.T) {
	f := func(kv ...string) {
		t.Helper()
		cfg := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			cfg[kv[i]] = kv[i+1]
		}
		if _, err := NewChain(cfg); err == nil {
			t.Errorf("NewChain(%v) succeeded", cfg)
		}
	}
	f("transforms", "x", "transforms.x.type", "NoSuch")
	f("transforms", "x", "transforms.x.type", "Cast$Value", "transforms.x.spec", "a:decimal")
	f("transforms", "x", "transforms.x.type", "RegexRouter", "transforms.x.regex", "(")
	f("transforms", "x", "transforms.x.type", "Filter", "transforms.x.predicate", "missing")

	c := chain(t, "transforms", "e", "transforms.e.type", "ExtractField$Value", "transforms.e.field", "f")
	if _, _, err := c.Apply(Record{Value: "not a struct"}); err == nil {
		t.Error("ExtractField on a string succeeded")
	}
}
