// Command kavka is the one Kavka binary: the broker (serve) and the client
// tools (topic, produce, consume), which work against any Kafka cluster.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "kavka",
		Short:         "Kavka: a Kafka-compatible streaming platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newGroupCmd(),
		newBenchCmd(),
		newConnectCmd(),
		newClusterCmd(),
	)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kavka:", err)
		os.Exit(1)
	}
}
