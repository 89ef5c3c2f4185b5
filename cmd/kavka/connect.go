package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newConnectCmd is replaced by the real command as it lands.
func newConnectCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "connect",
		RunE: func(*cobra.Command, []string) error { return errors.New("connect: not built yet") },
	}
}
