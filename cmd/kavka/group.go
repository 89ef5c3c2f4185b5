package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newGroupCmd is replaced by the real command as it lands.
func newGroupCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "group",
		RunE: func(*cobra.Command, []string) error { return errors.New("group: not built yet") },
	}
}
