package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newProduceCmd is replaced by the real command as it lands.
func newProduceCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "produce",
		RunE: func(*cobra.Command, []string) error { return errors.New("produce: not built yet") },
	}
}
