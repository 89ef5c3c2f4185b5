//go:build race

package sim

// defaultSeeds under -race, which is about ten times slower.
const defaultSeeds = 8
