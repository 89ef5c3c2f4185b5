package config

import (
	"io"

	"github.com/kavka-io/kavka/properties"
)

// ParseProperties reads a file in the format of Kafka's server.properties
// (java.util.Properties); see properties.Parse for the exact rules.
func ParseProperties(r io.Reader) (map[string]string, error) {
	return properties.Parse(r)
}
