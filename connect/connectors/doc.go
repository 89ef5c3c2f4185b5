// Package connectors registers the connectors bundled with Kavka: the file
// connectors, the PostgreSQL source and sink, and the HTTP sink.
package connectors
