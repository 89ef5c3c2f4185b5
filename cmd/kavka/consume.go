package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newConsumeCmd is replaced by the real command as it lands.
func newConsumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "consume",
		RunE: func(*cobra.Command, []string) error { return errors.New("consume: not built yet") },
	}
}
