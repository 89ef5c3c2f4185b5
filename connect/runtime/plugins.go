package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kavka-io/kavka/connect"
)

// Plugin is a connector class the worker can run.
type Plugin struct {
	Class   string // e.g. org.apache.kafka.connect.file.FileStreamSourceConnector
	Aliases []string
	New     func() connect.Connector
}

// Type returns "source" or "sink".
func (p *Plugin) Type() string {
	if _, ok := p.New().(connect.SinkConnector); ok {
		return "sink"
	}
	return "source"
}

// Version returns the connector's version.
func (p *Plugin) Version() string { return p.New().Version() }

// Plugins is the registry of connector classes. Build it before starting a
// worker; it is read-only afterwards.
type Plugins struct {
	list []*Plugin
}

// Register adds a connector class. The simple class name (after the last
// dot) and the name without a "Connector" suffix are aliases, as in Kafka's
// plugin loader.
func (p *Plugins) Register(class string, f func() connect.Connector) {
	short := class[strings.LastIndexByte(class, '.')+1:]
	pl := &Plugin{Class: class, New: f, Aliases: []string{short}}
	if s := strings.TrimSuffix(short, "Connector"); s != short {
		pl.Aliases = append(pl.Aliases, s)
	}
	p.list = append(p.list, pl)
	slices.SortFunc(p.list, func(a, b *Plugin) int { return strings.Compare(a.Class, b.Class) })
}

// Lookup finds a plugin by class name or alias.
func (p *Plugins) Lookup(name string) (*Plugin, error) {
	for _, pl := range p.list {
		if pl.Class == name || slices.Contains(pl.Aliases, name) {
			return pl, nil
		}
	}
	return nil, fmt.Errorf("failed to find any class that implements Connector and which name matches %s", name)
}

// All returns the plugins sorted by class.
func (p *Plugins) All() []*Plugin { return p.list }
