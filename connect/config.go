package connect

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConfigType is the type of a configuration key, as in Kafka's ConfigDef.
type ConfigType string

// Configuration key types.
const (
	TypeString   ConfigType = "STRING"
	TypeInt      ConfigType = "INT"
	TypeLong     ConfigType = "LONG"
	TypeDouble   ConfigType = "DOUBLE"
	TypeBoolean  ConfigType = "BOOLEAN"
	TypeList     ConfigType = "LIST"
	TypePassword ConfigType = "PASSWORD"
	TypeClass    ConfigType = "CLASS"
)

// Importance of a configuration key.
type Importance string

// Importance levels.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// ConfigKey describes one configuration key.
type ConfigKey struct {
	Name       string
	Type       ConfigType
	Required   bool   // no default; the key must be set
	Default    string // used when the key is missing and not Required
	Importance Importance
	Doc        string
	Group      string
	// Valid restricts the value, for example to one of a set (see OneOf) or
	// a range. It receives the value as written.
	Valid func(v string) error
}

// ConfigDef is an ordered list of configuration keys.
type ConfigDef []ConfigKey

// Key returns the definition of name, or nil.
func (d ConfigDef) Key(name string) *ConfigKey {
	for i := range d {
		if d[i].Name == name {
			return &d[i]
		}
	}
	return nil
}

// ValidateKey checks one value (present reports whether it was set) and
// returns the problems found, in Kafka's wording where one exists.
func (k *ConfigKey) ValidateKey(v string, present bool) []string {
	if !present {
		if k.Required {
			return []string{fmt.Sprintf("Missing required configuration %q which has no default value.", k.Name)}
		}
		v = k.Default
		if v == "" {
			return nil
		}
	}
	var errs []string
	switch k.Type {
	case TypeInt, TypeLong:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type %s", v, k.Name, k.Type))
		}
	case TypeDouble:
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type DOUBLE", v, k.Name))
		}
	case TypeBoolean:
		if s := strings.ToLower(strings.TrimSpace(v)); s != "true" && s != "false" {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Expected value to be either true or false", v, k.Name))
		}
	}
	if len(errs) == 0 && k.Valid != nil {
		if err := k.Valid(v); err != nil {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: %v", v, k.Name, err))
		}
	}
	return errs
}

// Validate checks cfg against every key and returns the problems by key.
func (d ConfigDef) Validate(cfg map[string]string) map[string][]string {
	out := map[string][]string{}
	for i := range d {
		v, ok := cfg[d[i].Name]
		if errs := d[i].ValidateKey(v, ok); len(errs) > 0 {
			out[d[i].Name] = errs
		}
	}
	return out
}

// OneOf returns a validator accepting only the given values
// (case-insensitively, as Kafka's CaseInsensitiveValidString).
func OneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.ContainsFunc(values, func(s string) bool { return strings.EqualFold(s, v) }) {
			return nil
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(values, ", "))
	}
}

// AtLeast returns a validator for numbers ≥ min.
func AtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

// Config reads typed values from a configuration map, falling back to the
// defaults of a ConfigDef. Parse errors are sticky: check Err once at the
// end.
type Config struct {
	def ConfigDef
	m   map[string]string
	err error
}

// NewConfig validates cfg against def and returns a reader for it.
func NewConfig(def ConfigDef, cfg map[string]string) (*Config, error) {
	probs := def.Validate(cfg)
	if len(probs) > 0 {
		keys := make([]string, 0, len(probs))
		for k := range probs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var msgs []string
		for _, k := range keys {
			msgs = append(msgs, probs[k]...)
		}
		return nil, fmt.Errorf("invalid configuration: %s", strings.Join(msgs, "; "))
	}
	return &Config{def: def, m: cfg}, nil
}

func (c *Config) raw(name string) string {
	if v, ok := c.m[name]; ok {
		return strings.TrimSpace(v)
	}
	if k := c.def.Key(name); k != nil {
		return k.Default
	}
	return ""
}

// String returns the value of name.
func (c *Config) String(name string) string { return c.raw(name) }

// Int returns the value of name as an int64.
func (c *Config) Int(name string) int64 {
	v := c.raw(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("config %s: %w", name, err)
	}
	return n
}

// Millis returns the value of name, a number of milliseconds (Kafka's
// *.ms keys), as a duration.
func (c *Config) Millis(name string) time.Duration {
	return time.Duration(c.Int(name)) * time.Millisecond
}

// Bool returns the value of name as a boolean.
func (c *Config) Bool(name string) bool { return strings.EqualFold(c.raw(name), "true") }

// List returns the comma-separated value of name, trimmed, without empty
// elements.
func (c *Config) List(name string) []string { return SplitList(c.raw(name)) }

// Err returns the first parse error.
func (c *Config) Err() error { return c.err }

// SplitList splits a comma-separated list as Kafka's ConfigDef LIST type
// does.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ValidRegex is a validator for regular expressions.
func ValidRegex(v string) error {
	_, err := regexp.Compile(v)
	return err
}
