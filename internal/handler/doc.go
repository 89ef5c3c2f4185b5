// Package handler serves Kafka API requests: one file per API key, named
// after it (18_api_versions.go), and an explicit dispatch table that also
// drives the ApiVersions response, so that the broker advertises exactly what
// it implements.
//
// Handlers are thin: decode (done by kmsg before they run) → authorize → call a
// subsystem with plain Go types → fill the kmsg response. Protocol error codes
// are chosen in one place, errcode.go.
package handler
