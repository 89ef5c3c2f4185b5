package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newBenchCmd is replaced by the real command as it lands.
func newBenchCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "bench",
		RunE: func(*cobra.Command, []string) error { return errors.New("bench: not built yet") },
	}
}
