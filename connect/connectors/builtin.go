package connectors

import (
	"github.com/kavka-io/kavka/connect"
	"github.com/kavka-io/kavka/connect/connectors/file"
	"github.com/kavka-io/kavka/connect/connectors/httpsink"
	"github.com/kavka-io/kavka/connect/connectors/postgres"
	"github.com/kavka-io/kavka/connect/runtime"
)

// Register adds every bundled connector to p.
func Register(p *runtime.Plugins) {
	p.Register(file.SourceClass, func() connect.Connector { return &file.Source{} })
	p.Register(file.SinkClass, func() connect.Connector { return &file.Sink{} })
	p.Register(httpsink.Class, func() connect.Connector { return &httpsink.Sink{} })
	p.Register(postgres.CDCClass, func() connect.Connector { return &postgres.CDCSource{} })
	p.Register(postgres.SourceClass, func() connect.Connector { return &postgres.Source{} })
	p.Register(postgres.SinkClass, func() connect.Connector { return &postgres.Sink{} })
}

// Plugins returns a registry with every bundled connector.
func Plugins() *runtime.Plugins {
	p := &runtime.Plugins{}
	Register(p)
	return p
}
