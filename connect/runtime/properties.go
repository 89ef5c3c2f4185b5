package runtime

import (
	"io"

	"github.com/kavka-io/kavka/properties"
)

// ParseProperties reads a Java .properties file: "key=value", "key: value"
// or "key value" lines, # and ! comments, backslash line continuations and
// the \t \n \r \f \uXXXX escapes (properties.Parse).
func ParseProperties(r io.Reader) (map[string]string, error) {
	return properties.Parse(r)
}
