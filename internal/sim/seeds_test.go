//go:build !race

package sim

// defaultSeeds is how many seeds `go test ./internal/sim` runs.
const defaultSeeds = 300
