package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTopicCmd is replaced by the real command as it lands.
func newTopicCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "topic",
		RunE: func(*cobra.Command, []string) error { return errors.New("topic: not built yet") },
	}
}
