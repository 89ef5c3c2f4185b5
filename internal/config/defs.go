package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is the data type of a config, numbered as in Kafka's DescribeConfigs
// (ConfigType, KIP-569).
type Type int8

// Config types.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeShort:
		return "short"
	case TypeLong:
		return "long"
	case TypeDouble:
		return "double"
	case TypeList:
		return "list"
	case TypeClass:
		return "class"
	case TypePassword:
		return "password"
	}
	return "unknown"
}

// kafkaName is how Kafka's error messages spell a type ("Not a number of type LONG").
func (t Type) kafkaName() string { return strings.ToUpper(t.String()) }

// Scope says where a config applies.
type Scope int8

// Scopes.
const (
	ScopeBroker Scope = iota
	ScopeTopic
)

// Synonym names a broker key that provides a topic config's default, and the
// factor that turns the broker value into the topic's unit (log.retention.hours
// → retention.ms is 3 600 000).
type Synonym struct {
	Name  string
	Scale int64
}

// Def defines one config key. Defs are immutable.
type Def struct {
	// Name is the key, exactly as Kafka spells it.
	Name  string
	Type  Type
	Scope Scope
	// Default is the default value as text; meaningless when NoDefault.
	Default string
	// NoDefault means the key is null unless set (Kafka's "null" default),
	// for example log.retention.ms, which then falls back to a synonym.
	NoDefault bool
	Doc       string
	// Dynamic reports whether the value may change at run time without a
	// restart (every topic config may; for broker configs this mirrors
	// Kafka's dynamic update modes). DescribeConfigs reports !Dynamic as
	// read-only.
	Dynamic   bool
	Sensitive bool
	// Min and Max bound numeric values when HasMin / HasMax.
	Min, Max       float64
	HasMin, HasMax bool
	// Enum lists the valid values of a string, or of each element of a list;
	// empty means any.
	Enum []string
	// Synonyms are, for a topic config, the broker keys that give its
	// default, in precedence order (log.retention.ms before
	// log.retention.minutes before log.retention.hours).
	Synonyms []Synonym
	// Kavka marks keys Kafka does not have.
	Kavka bool
}

// ConfigError is a bad key or value. Its message follows Kafka's and is
// suitable for an INVALID_CONFIG error message.
type ConfigError struct {
	Name string
	Msg  string
}

func (e *ConfigError) Error() string { return e.Msg }

func invalid(d *Def, value, why string) error {
	return &ConfigError{Name: d.Name, Msg: fmt.Sprintf("Invalid value %s for configuration %s: %s", value, d.Name, why)}
}

// value is a parsed config value.
type value struct {
	i    int64
	f    float64
	b    bool
	s    string
	list []string
}

// parse checks s against d and returns it parsed. Like Kafka it trims
// surrounding white space.
func (d *Def) parse(s string) (value, error) {
	s = strings.TrimSpace(s)
	var v value
	v.s = s
	switch d.Type {
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true":
			v.b = true
		case "false":
		default:
			return v, invalid(d, s, "Expected value to be either true or false")
		}
		return v, nil
	case TypeInt, TypeShort, TypeLong:
		bits := map[Type]int{TypeInt: 32, TypeShort: 16, TypeLong: 64}[d.Type]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return v, invalid(d, s, "Not a number of type "+d.Type.kafkaName())
		}
		v.i, v.f = n, float64(n)
	case TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return v, invalid(d, s, "Not a number of type DOUBLE")
		}
		v.f = f
	case TypeList:
		if s == "" {
			return v, invalid(d, s, "Empty list")
		}
		for _, e := range strings.Split(s, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				return v, invalid(d, s, "Empty list element")
			}
			if len(d.Enum) > 0 && !contains(d.Enum, e) {
				return v, invalid(d, s, fmt.Sprintf("String must be one of: %s", strings.Join(d.Enum, ", ")))
			}
			v.list = append(v.list, e)
		}
		return v, nil
	case TypeString, TypePassword, TypeClass:
		if len(d.Enum) > 0 && !contains(d.Enum, s) {
			return v, invalid(d, s, fmt.Sprintf("String must be one of: %s", strings.Join(d.Enum, ", ")))
		}
		return v, nil
	default:
		panic(fmt.Sprintf("BUG: config %s has type %d", d.Name, d.Type))
	}
	if d.HasMin && v.f < d.Min {
		return v, invalid(d, s, "Value must be at least "+num(d.Min))
	}
	if d.HasMax && v.f > d.Max {
		return v, invalid(d, s, "Value must be no more than "+num(d.Max))
	}
	return v, nil
}

// Check reports whether value is valid for d.
func (d *Def) Check(value string) error {
	_, err := d.parse(value)
	return err
}

// ValidString describes the valid values for docs ("[14,...]", "[compact, delete]").
func (d *Def) ValidString() string {
	switch {
	case len(d.Enum) > 0:
		return "[" + strings.Join(d.Enum, ", ") + "]"
	case d.HasMin && d.HasMax:
		return "[" + num(d.Min) + ",...," + num(d.Max) + "]"
	case d.HasMin:
		return "[" + num(d.Min) + ",...]"
	case d.HasMax:
		return "[...," + num(d.Max) + "]"
	}
	return ""
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Lookup returns the definition of a broker or topic key.
func Lookup(scope Scope, name string) (*Def, bool) {
	m := brokerByName
	if scope == ScopeTopic {
		m = topicByName
	}
	if d, ok := m[name]; ok {
		return &d.Def, true
	}
	return nil, false
}

// BrokerDefs returns every broker config definition, sorted by name. The
// slice must not be modified.
func BrokerDefs() []*Def { return brokerDefs }

// TopicDefs returns every topic config definition, sorted by name. The slice
// must not be modified.
func TopicDefs() []*Def { return topicDefs }
