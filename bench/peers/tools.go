//go:build tools

package peers

// Pins the nats-server version that bench/compare.sh builds with
// `go build github.com/nats-io/nats-server/v2`.
import _ "github.com/nats-io/nats-server/v2"
