// Package properties reads Java .properties files, the format of Kafka's
// server.properties and of Kafka Connect's worker and connector files.
//
// It is a public leaf package so that both the broker (internal/config) and
// the public Connect library (connect/runtime), which must not import
// internal packages, share one parser. It imports nothing from Kavka.
package properties
