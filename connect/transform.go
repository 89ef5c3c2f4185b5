package connect

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Transformation is a single message transform (SMT): it changes one record
// at a time, or drops it. Mirrors org.apache.kafka.connect.transforms.
// Transformation. Apply must not modify r's maps in place: build new ones, as
// the worker may still hold the original (for the dead-letter queue).
type Transformation interface {
	Configure(cfg map[string]string) error
	// Apply returns the transformed record, or keep=false to drop it.
	Apply(r Record) (out Record, keep bool, err error)
}

// Predicate decides whether a transformation applies to a record (KIP-585).
type Predicate interface {
	Configure(cfg map[string]string) error
	Test(r Record) bool
}

const (
	transformPrefix = "org.apache.kafka.connect.transforms."
	predicatePrefix = "org.apache.kafka.connect.transforms.predicates."
)

var transformations = map[string]func() Transformation{
	"InsertField$Key":    func() Transformation { return &InsertField{key: true} },
	"InsertField$Value":  func() Transformation { return &InsertField{} },
	"ReplaceField$Key":   func() Transformation { return &ReplaceField{key: true} },
	"ReplaceField$Value": func() Transformation { return &ReplaceField{} },
	"MaskField$Key":      func() Transformation { return &MaskField{key: true} },
	"MaskField$Value":    func() Transformation { return &MaskField{} },
	"ValueToKey":         func() Transformation { return &ValueToKey{} },
	"ExtractField$Key":   func() Transformation { return &ExtractField{key: true} },
	"ExtractField$Value": func() Transformation { return &ExtractField{} },
	"Cast$Key":           func() Transformation { return &Cast{key: true} },
	"Cast$Value":         func() Transformation { return &Cast{} },
	"TimestampRouter":    func() Transformation { return &TimestampRouter{} },
	"RegexRouter":        func() Transformation { return &RegexRouter{} },
	"Filter":             func() Transformation { return Filter{} },
}

var predicates = map[string]func() Predicate{
	"TopicNameMatches":  func() Predicate { return &TopicNameMatches{} },
	"HasHeaderKey":      func() Predicate { return &HasHeaderKey{} },
	"RecordIsTombstone": func() Predicate { return RecordIsTombstone{} },
}

// NewTransformation returns the bundled transformation for a class name,
// Kafka's full name (org.apache.kafka.connect.transforms.Cast$Value) or the
// short one (Cast$Value), unconfigured.
func NewTransformation(class string) (Transformation, error) {
	if f, ok := transformations[strings.TrimPrefix(class, transformPrefix)]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("unknown transformation class %q", class)
}

// NewPredicate returns the bundled predicate for a class name.
func NewPredicate(class string) (Predicate, error) {
	if f, ok := predicates[strings.TrimPrefix(class, predicatePrefix)]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("unknown predicate class %q", class)
}

// TransformationClasses lists the bundled transformations by full class name.
func TransformationClasses() []string { return classes(transformations, transformPrefix) }

// PredicateClasses lists the bundled predicates by full class name.
func PredicateClasses() []string { return classes(predicates, predicatePrefix) }

func classes[T any](m map[string]T, prefix string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, prefix+k)
	}
	slices.Sort(out)
	return out
}

// Chain is the ordered list of transformations of a connector, built from
// its "transforms" and "predicates" keys.
type Chain struct {
	steps []chainStep
}

type chainStep struct {
	alias  string
	class  string
	t      Transformation
	pred   Predicate
	negate bool
}

// NewChain builds the transformation chain that cfg describes:
//
//	transforms=route,mask
//	transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
//	transforms.route.regex=…
//	transforms.mask.predicate=isFoo
//	transforms.mask.negate=true
//	predicates=isFoo
//	predicates.isFoo.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
//	predicates.isFoo.pattern=foo.*
func NewChain(cfg map[string]string) (*Chain, error) {
	preds := map[string]Predicate{}
	for _, alias := range SplitList(cfg["predicates"]) {
		class := cfg["predicates."+alias+".type"]
		p, err := NewPredicate(class)
		if err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		if err := p.Configure(subConfig(cfg, "predicates."+alias+".")); err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = p
	}
	c := &Chain{}
	for _, alias := range SplitList(cfg["transforms"]) {
		prefix := "transforms." + alias + "."
		class := cfg[prefix+"type"]
		t, err := NewTransformation(class)
		if err != nil {
			return nil, fmt.Errorf("transform %s: %w", alias, err)
		}
		sub := subConfig(cfg, prefix)
		if err := t.Configure(sub); err != nil {
			return nil, fmt.Errorf("transform %s: %w", alias, err)
		}
		st := chainStep{alias: alias, class: class, t: t}
		if p := sub["predicate"]; p != "" {
			if st.pred = preds[p]; st.pred == nil {
				return nil, fmt.Errorf("transform %s: predicate %q is not listed in predicates", alias, p)
			}
			st.negate = strings.EqualFold(sub["negate"], "true")
		}
		c.steps = append(c.steps, st)
	}
	return c, nil
}

// TransformError says which transformation failed.
type TransformError struct {
	Alias, Class string
	Err          error
}

func (e *TransformError) Error() string {
	return fmt.Sprintf("transform %s (%s): %v", e.Alias, e.Class, e.Err)
}
func (e *TransformError) Unwrap() error { return e.Err }

// Apply runs r through every transformation whose predicate (if any)
// matches. keep=false means a transformation dropped the record.
func (c *Chain) Apply(r Record) (Record, bool, error) {
	if c == nil {
		return r, true, nil
	}
	for _, st := range c.steps {
		if st.pred != nil && st.pred.Test(r) == st.negate {
			continue
		}
		out, keep, err := st.t.Apply(r)
		if err != nil {
			return r, false, &TransformError{Alias: st.alias, Class: st.class, Err: err}
		}
		if !keep {
			return r, false, nil
		}
		r = out
	}
	return r, true, nil
}

// Len returns the number of transformations.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.steps)
}

// subConfig returns the keys of cfg that start with prefix, without it.
func subConfig(cfg map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		if strings.HasPrefix(k, prefix) {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

// SubConfig returns the keys of cfg that start with prefix, with the prefix
// removed (for example the value.converter.* settings).
func SubConfig(cfg map[string]string, prefix string) map[string]string { return subConfig(cfg, prefix) }

// operand reads and writes the key or the value of a record.
type operand bool

func (key operand) get(r *Record) (*Schema, any) {
	if key {
		return r.KeySchema, r.Key
	}
	return r.ValueSchema, r.Value
}

func (key operand) set(r *Record, s *Schema, v any) {
	if key {
		r.KeySchema, r.Key = s, v
	} else {
		r.ValueSchema, r.Value = s, v
	}
}

func (key operand) name() string {
	if key {
		return "key"
	}
	return "value"
}

// requireMap returns the struct or map value of the operand.
func requireMap(s *Schema, v any, what, smt string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s requires a struct or map %s, got %T", smt, what, v)
	}
	if s != nil && s.Type != Struct {
		return nil, fmt.Errorf("%s requires a struct schema for the %s, got %s", smt, what, s.Type)
	}
	return m, nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// InsertField adds fields with the record's topic, partition, offset,
// timestamp, or a static value (InsertField$Key / InsertField$Value). Field
// names may end in "!" (required in the schema) or "?" (optional, the
// default).
type InsertField struct {
	key                                  bool
	topic, partition, offset, ts, static fieldSpec
	staticValue                          string
}

type fieldSpec struct {
	name     string
	optional bool
}

func parseFieldSpec(s string) fieldSpec {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return fieldSpec{}
	case strings.HasSuffix(s, "!"):
		return fieldSpec{name: s[:len(s)-1]}
	case strings.HasSuffix(s, "?"):
		return fieldSpec{name: s[:len(s)-1], optional: true}
	}
	return fieldSpec{name: s, optional: true}
}

// Configure implements Transformation.
func (t *InsertField) Configure(cfg map[string]string) error {
	t.topic = parseFieldSpec(cfg["topic.field"])
	t.partition = parseFieldSpec(cfg["partition.field"])
	t.offset = parseFieldSpec(cfg["offset.field"])
	t.ts = parseFieldSpec(cfg["timestamp.field"])
	t.static = parseFieldSpec(cfg["static.field"])
	t.staticValue = cfg["static.value"]
	if t.topic.name == "" && t.partition.name == "" && t.offset.name == "" && t.ts.name == "" && t.static.name == "" {
		return fmt.Errorf("InsertField: no field to insert")
	}
	return nil
}

// Apply implements Transformation.
func (t *InsertField) Apply(r Record) (Record, bool, error) {
	op := operand(t.key)
	s, v := op.get(&r)
	if v == nil && s == nil {
		return r, true, nil // tombstones pass through
	}
	m, err := requireMap(s, v, op.name(), "InsertField")
	if err != nil {
		return r, false, err
	}
	out := copyMap(m)
	var ns *Schema
	if s != nil {
		b := NewStruct(s.Name)
		for _, f := range s.Fields {
			b.Field(f.Name, f.Schema)
		}
		ns = b.Build()
		ns.Optional, ns.Version, ns.Doc = s.Optional, s.Version, s.Doc
	}
	add := func(f fieldSpec, typ Type, val any) {
		if f.name == "" {
			return
		}
		out[f.name] = val
		if ns != nil {
			ns.Fields = append(ns.Fields, Field{Name: f.name, Schema: &Schema{Type: typ, Optional: f.optional}})
		}
	}
	add(t.topic, String, r.Topic)
	add(t.partition, Int32, r.Partition)
	add(t.offset, Int64, r.Offset)
	add(t.ts, Int64, r.Timestamp.UnixMilli())
	add(t.static, String, t.staticValue)
	op.set(&r, ns, out)
	return r, true, nil
}

// ReplaceField keeps (include), drops (exclude) and renames fields
// (ReplaceField$Key / ReplaceField$Value). The pre-KIP-629 names whitelist
// and blacklist are accepted too.
type ReplaceField struct {
	key              bool
	include, exclude []string
	renames          map[string]string
}

// Configure implements Transformation.
func (t *ReplaceField) Configure(cfg map[string]string) error {
	t.include = SplitList(cfg["include"] + "," + cfg["whitelist"])
	t.exclude = SplitList(cfg["exclude"] + "," + cfg["blacklist"])
	t.renames = map[string]string{}
	for _, p := range SplitList(cfg["renames"]) {
		from, to, ok := strings.Cut(p, ":")
		if !ok || from == "" || to == "" {
			return fmt.Errorf("ReplaceField: invalid rename mapping %q, want old:new", p)
		}
		t.renames[from] = to
	}
	return nil
}

func (t *ReplaceField) keep(name string) bool {
	if slices.Contains(t.exclude, name) {
		return false
	}
	return len(t.include) == 0 || slices.Contains(t.include, name)
}

// Apply implements Transformation.
func (t *ReplaceField) Apply(r Record) (Record, bool, error) {
	op := operand(t.key)
	s, v := op.get(&r)
	if v == nil {
		return r, true, nil
	}
	m, err := requireMap(s, v, op.name(), "ReplaceField")
	if err != nil {
		return r, false, err
	}
	rename := func(n string) string {
		if to, ok := t.renames[n]; ok {
			return to
		}
		return n
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		if t.keep(k) {
			out[rename(k)] = x
		}
	}
	var ns *Schema
	if s != nil {
		b := NewStruct(s.Name)
		for _, f := range s.Fields {
			if t.keep(f.Name) {
				b.Field(rename(f.Name), f.Schema)
			}
		}
		ns = b.Build()
		ns.Optional, ns.Version, ns.Doc = s.Optional, s.Version, s.Doc
	}
	op.set(&r, ns, out)
	return r, true, nil
}

// MaskField replaces the listed fields with the zero value of their type, or
// with "replacement" (MaskField$Key / MaskField$Value).
type MaskField struct {
	key         bool
	fields      []string
	replacement string
	hasRepl     bool
}

// Configure implements Transformation.
func (t *MaskField) Configure(cfg map[string]string) error {
	t.fields = SplitList(cfg["fields"])
	if len(t.fields) == 0 {
		return fmt.Errorf("MaskField: fields must not be empty")
	}
	t.replacement, t.hasRepl = cfg["replacement"]
	return nil
}

// Apply implements Transformation.
func (t *MaskField) Apply(r Record) (Record, bool, error) {
	op := operand(t.key)
	s, v := op.get(&r)
	if v == nil {
		return r, true, nil
	}
	m, err := requireMap(s, v, op.name(), "MaskField")
	if err != nil {
		return r, false, err
	}
	out := copyMap(m)
	for _, f := range t.fields {
		old, ok := m[f]
		if !ok {
			continue
		}
		var typ Type
		if fs := s.Field(f); fs != nil {
			typ = fs.Schema.Type
		} else {
			typ = goType(old)
		}
		if t.hasRepl {
			nv, err := castTo(typ, t.replacement)
			if err != nil {
				return r, false, fmt.Errorf("MaskField: replacement for %s: %w", f, err)
			}
			out[f] = nv
			continue
		}
		out[f] = zeroOf(typ, old)
	}
	op.set(&r, s, out)
	return r, true, nil
}

func goType(v any) Type {
	switch v.(type) {
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64, int:
		return Int64
	case float32:
		return Float32
	case float64:
		return Float64
	case bool:
		return Boolean
	case string:
		return String
	case []byte:
		return Bytes
	case []any:
		return Array
	case map[string]any:
		return Map
	}
	return ""
}

func zeroOf(t Type, old any) any {
	switch t {
	case Int8:
		return int8(0)
	case Int16:
		return int16(0)
	case Int32:
		return int32(0)
	case Int64:
		if _, ok := old.(int); ok {
			return 0
		}
		return int64(0)
	case Float32:
		return float32(0)
	case Float64:
		return float64(0)
	case Boolean:
		return false
	case String:
		return ""
	case Bytes:
		return []byte{}
	case Array:
		return []any{}
	case Map, Struct:
		return map[string]any{}
	}
	return nil
}

// ValueToKey replaces the key with a struct (or map) built from fields of
// the value.
type ValueToKey struct {
	fields []string
}

// Configure implements Transformation.
func (t *ValueToKey) Configure(cfg map[string]string) error {
	t.fields = SplitList(cfg["fields"])
	if len(t.fields) == 0 {
		return fmt.Errorf("ValueToKey: fields must not be empty")
	}
	return nil
}

// Apply implements Transformation.
func (t *ValueToKey) Apply(r Record) (Record, bool, error) {
	m, err := requireMap(r.ValueSchema, r.Value, "value", "ValueToKey")
	if err != nil {
		return r, false, err
	}
	key := make(map[string]any, len(t.fields))
	var ks *Schema
	if r.ValueSchema != nil {
		b := NewStruct("")
		for _, f := range t.fields {
			fs := r.ValueSchema.Field(f)
			if fs == nil {
				return r, false, fmt.Errorf("ValueToKey: field %q not in the value schema", f)
			}
			b.Field(f, fs.Schema)
		}
		ks = b.Build()
	}
	for _, f := range t.fields {
		key[f] = m[f]
	}
	r.KeySchema, r.Key = ks, key
	return r, true, nil
}

// ExtractField replaces the key or value with one of its fields
// (ExtractField$Key / ExtractField$Value).
type ExtractField struct {
	key   bool
	field string
}

// Configure implements Transformation.
func (t *ExtractField) Configure(cfg map[string]string) error {
	t.field = strings.TrimSpace(cfg["field"])
	if t.field == "" {
		return fmt.Errorf("ExtractField: field must be set")
	}
	return nil
}

// Apply implements Transformation.
func (t *ExtractField) Apply(r Record) (Record, bool, error) {
	op := operand(t.key)
	s, v := op.get(&r)
	if v == nil {
		return r, true, nil
	}
	m, err := requireMap(s, v, op.name(), "ExtractField")
	if err != nil {
		return r, false, err
	}
	var fs *Schema
	if s != nil {
		f := s.Field(t.field)
		if f == nil {
			return r, false, fmt.Errorf("ExtractField: unknown field %q", t.field)
		}
		fs = f.Schema
	}
	op.set(&r, fs, m[t.field])
	return r, true, nil
}

// Cast changes the type of the whole key/value or of fields of it
// (Cast$Key / Cast$Value): spec is "int64" or "a:int32,b:string".
type Cast struct {
	key    bool
	whole  Type
	fields map[string]Type
	order  []string
}

var castTypes = map[string]Type{
	"int8": Int8, "int16": Int16, "int32": Int32, "int64": Int64,
	"float32": Float32, "float64": Float64, "boolean": Boolean, "string": String,
}

// Configure implements Transformation.
func (t *Cast) Configure(cfg map[string]string) error {
	spec := SplitList(cfg["spec"])
	if len(spec) == 0 {
		return fmt.Errorf("Cast: spec must not be empty")
	}
	t.fields = map[string]Type{}
	for _, p := range spec {
		name, typ, ok := strings.Cut(p, ":")
		if !ok {
			if len(spec) != 1 {
				return fmt.Errorf("Cast: a whole-value cast must be the only entry in spec")
			}
			typ, name = name, ""
		}
		ct, known := castTypes[strings.ToLower(strings.TrimSpace(typ))]
		if !known {
			return fmt.Errorf("Cast: unsupported target type %q", typ)
		}
		if name == "" {
			t.whole = ct
		} else {
			t.fields[strings.TrimSpace(name)] = ct
			t.order = append(t.order, strings.TrimSpace(name))
		}
	}
	return nil
}

// Apply implements Transformation.
func (t *Cast) Apply(r Record) (Record, bool, error) {
	op := operand(t.key)
	s, v := op.get(&r)
	if v == nil {
		return r, true, nil
	}
	if t.whole != "" {
		nv, err := castTo(t.whole, v)
		if err != nil {
			return r, false, fmt.Errorf("Cast: %w", err)
		}
		var ns *Schema
		if s != nil {
			ns = &Schema{Type: t.whole, Optional: s.Optional}
		}
		op.set(&r, ns, nv)
		return r, true, nil
	}
	m, err := requireMap(s, v, op.name(), "Cast")
	if err != nil {
		return r, false, err
	}
	out := copyMap(m)
	for f, typ := range t.fields {
		if x, ok := m[f]; ok && x != nil {
			nv, err := castTo(typ, x)
			if err != nil {
				return r, false, fmt.Errorf("Cast: field %s: %w", f, err)
			}
			out[f] = nv
		}
	}
	ns := s
	if s != nil {
		b := NewStruct(s.Name)
		for _, f := range s.Fields {
			if typ, ok := t.fields[f.Name]; ok {
				b.Field(f.Name, &Schema{Type: typ, Optional: f.Schema.Optional})
			} else {
				b.Field(f.Name, f.Schema)
			}
		}
		ns = b.Build()
		ns.Optional, ns.Version, ns.Doc = s.Optional, s.Version, s.Doc
	}
	op.set(&r, ns, out)
	return r, true, nil
}

// castTo converts a primitive value (or its string form) to type t.
func castTo(t Type, v any) (any, error) {
	var (
		i     int64
		f     float64
		isInt bool
		isFlt bool
	)
	switch x := v.(type) {
	case int8:
		i, isInt = int64(x), true
	case int16:
		i, isInt = int64(x), true
	case int32:
		i, isInt = int64(x), true
	case int64:
		i, isInt = x, true
	case int:
		i, isInt = int64(x), true
	case float32:
		f, isFlt = float64(x), true
	case float64:
		f, isFlt = x, true
	case bool:
		if x {
			i = 1
		}
		isInt = true
	case string:
		if t == String {
			return x, nil
		}
		s := strings.TrimSpace(x)
		if t == Boolean {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, fmt.Errorf("cannot cast %q to boolean", x)
			}
			return b, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i, isInt = n, true
		} else if g, err := strconv.ParseFloat(s, 64); err == nil {
			f, isFlt = g, true
		} else {
			return nil, fmt.Errorf("cannot cast %q to %s", x, t)
		}
	default:
		return nil, fmt.Errorf("cannot cast %T to %s", v, t)
	}
	if isInt {
		f = float64(i)
	} else if isFlt {
		i = int64(f)
	}
	switch t {
	case Int8:
		return int8(i), nil
	case Int16:
		return int16(i), nil
	case Int32:
		return int32(i), nil
	case Int64:
		return i, nil
	case Float32:
		return float32(f), nil
	case Float64:
		return f, nil
	case Boolean:
		return f != 0, nil
	case String:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		if isFlt {
			return strconv.FormatFloat(f, 'g', -1, 64), nil
		}
		return strconv.FormatInt(i, 10), nil
	}
	return nil, fmt.Errorf("unsupported cast target %s", t)
}

// TimestampRouter renames the topic from the record's timestamp:
// topic.format (default "${topic}-${timestamp}") with timestamp.format in
// Java's SimpleDateFormat notation (default "yyyyMMdd"), in UTC.
type TimestampRouter struct {
	format string
	layout string
}

// Configure implements Transformation.
func (t *TimestampRouter) Configure(cfg map[string]string) error {
	t.format = cfg["topic.format"]
	if t.format == "" {
		t.format = "${topic}-${timestamp}"
	}
	tf := cfg["timestamp.format"]
	if tf == "" {
		tf = "yyyyMMdd"
	}
	var err error
	t.layout, err = JavaDateLayout(tf)
	return err
}

// Apply implements Transformation.
func (t *TimestampRouter) Apply(r Record) (Record, bool, error) {
	if r.Timestamp.IsZero() {
		return r, false, fmt.Errorf("TimestampRouter: record has no timestamp")
	}
	ts := r.Timestamp.UTC().Format(t.layout)
	r.Topic = strings.ReplaceAll(strings.ReplaceAll(t.format, "${topic}", r.Topic), "${timestamp}", ts)
	return r, true, nil
}

// JavaDateLayout converts a SimpleDateFormat pattern (the common letters
// y, M, d, H, m, s, S and quoted text) to a Go time layout.
func JavaDateLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote in %q", p)
			}
			b.WriteString(p[i+1 : i+1+j])
			i += j + 2
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		switch {
		case c == 'y' && n == 2:
			b.WriteString("06")
		case c == 'y':
			b.WriteString("2006")
		case c == 'M' && n >= 3:
			b.WriteString("Jan")
		case c == 'M':
			b.WriteString("01")
		case c == 'd':
			b.WriteString("02")
		case c == 'H':
			b.WriteString("15")
		case c == 'm':
			b.WriteString("04")
		case c == 's':
			b.WriteString("05")
		case c == 'S':
			// Go spells fractional seconds only after a dot: ".000".
			if !strings.HasSuffix(b.String(), ".") {
				b.WriteByte('.')
			}
			b.WriteString(strings.Repeat("0", n))
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			return "", fmt.Errorf("unsupported date pattern letter %q in %q", c, p)
		default:
			b.WriteString(p[i : i+n])
		}
		i += n
	}
	return b.String(), nil
}

// RegexRouter renames topics that match regex entirely to replacement,
// which may refer to groups as $1 (Java style).
type RegexRouter struct {
	re          *regexp.Regexp
	replacement string
}

var javaGroupRef = regexp.MustCompile(`\$(\d+)`)

// Configure implements Transformation.
func (t *RegexRouter) Configure(cfg map[string]string) error {
	re, err := regexp.Compile(`^(?:` + cfg["regex"] + `)$`)
	if err != nil {
		return fmt.Errorf("RegexRouter: regex: %w", err)
	}
	if cfg["regex"] == "" {
		return fmt.Errorf("RegexRouter: regex must be set")
	}
	t.re = re
	t.replacement = javaGroupRef.ReplaceAllString(cfg["replacement"], "$${$1}")
	return nil
}

// Apply implements Transformation.
func (t *RegexRouter) Apply(r Record) (Record, bool, error) {
	if m := t.re.FindStringSubmatchIndex(r.Topic); m != nil {
		r.Topic = string(t.re.ExpandString(nil, t.replacement, r.Topic, m))
	}
	return r, true, nil
}

// Filter drops every record it is applied to; combine it with a predicate
// to drop some.
type Filter struct{}

// Configure implements Transformation.
func (Filter) Configure(map[string]string) error { return nil }

// Apply implements Transformation.
func (Filter) Apply(r Record) (Record, bool, error) { return r, false, nil }

// TopicNameMatches is true for records whose topic matches pattern entirely.
type TopicNameMatches struct{ re *regexp.Regexp }

// Configure implements Predicate.
func (p *TopicNameMatches) Configure(cfg map[string]string) error {
	if cfg["pattern"] == "" {
		return fmt.Errorf("TopicNameMatches: pattern must be set")
	}
	re, err := regexp.Compile(`^(?:` + cfg["pattern"] + `)$`)
	if err != nil {
		return fmt.Errorf("TopicNameMatches: pattern: %w", err)
	}
	p.re = re
	return nil
}

// Test implements Predicate.
func (p *TopicNameMatches) Test(r Record) bool { return p.re.MatchString(r.Topic) }

// HasHeaderKey is true for records with at least one header called name.
type HasHeaderKey struct{ name string }

// Configure implements Predicate.
func (p *HasHeaderKey) Configure(cfg map[string]string) error {
	if p.name = cfg["name"]; p.name == "" {
		return fmt.Errorf("HasHeaderKey: name must be set")
	}
	return nil
}

// Test implements Predicate.
func (p *HasHeaderKey) Test(r Record) bool { _, ok := r.Header(p.name); return ok }

// RecordIsTombstone is true for records with a null value.
type RecordIsTombstone struct{}

// Configure implements Predicate.
func (RecordIsTombstone) Configure(map[string]string) error { return nil }

// Test implements Predicate.
func (RecordIsTombstone) Test(r Record) bool { return r.Value == nil }
