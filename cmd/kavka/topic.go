package main

// The client commands (topic, produce, consume) talk to any Kafka cluster
// through franz-go's kgo and kadm only; they never import internal/.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// defaultBrokers matches the default listen address of `kavka serve`.
const defaultBrokers = "127.0.0.1:9092"

// requestTimeout bounds every admin request of the topic commands.
const requestTimeout = 30 * time.Second

// addBrokersFlag adds the persistent --brokers flag (env KAVKA_BROKERS) to a
// client command and returns the value it fills.
func addBrokersFlag(cmd *cobra.Command) *string {
	def := defaultBrokers
	if env := os.Getenv("KAVKA_BROKERS"); env != "" {
		def = env
	}
	return cmd.PersistentFlags().String("brokers", def,
		"comma-separated bootstrap brokers host:port (env KAVKA_BROKERS)")
}

// newClient connects a kgo client to the comma-separated seed brokers.
func newClient(brokers string, opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no brokers given (--brokers or KAVKA_BROKERS)")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// parseConfigs turns repeated k=v flags into the map kadm expects.
func parseConfigs(kvs []string) (map[string]*string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("config %q: want key=value", kv)
		}
		m[k] = &v
	}
	return m, nil
}

func newTopicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics on any Kafka cluster",
	}
	brokers := addBrokersFlag(cmd)

	// withAdmin runs f with an admin client bounded by requestTimeout.
	withAdmin := func(cmd *cobra.Command, f func(ctx context.Context, adm *kadm.Client) error) error {
		cl, err := newClient(*brokers)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
		defer cancel()
		return f(ctx, kadm.NewClient(cl))
	}

	var (
		partitions, rf int
		configs        []string
	)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return createTopic(ctx, adm, cmd.OutOrStdout(), args[0], int32(partitions), int16(rf), cfg)
			})
		},
	}
	create.Flags().IntVar(&partitions, "partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	create.Flags().IntVar(&rf, "replication-factor", -1, "replication factor (-1: the broker's default.replication.factor)")
	create.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List topic names, one per line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return listTopics(ctx, adm, cmd.OutOrStdout())
			})
		},
	}

	var allConfigs bool
	describe := &cobra.Command{
		Use:   "describe [NAME]",
		Short: "Describe a topic (or every topic): partitions, leaders, replicas, ISR and configs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				names := args
				if len(names) == 0 {
					topics, err := adm.ListTopics(ctx)
					if err != nil {
						return fmt.Errorf("list topics: %w", err)
					}
					names = topics.Names()
				}
				for _, name := range names {
					if err := describeTopic(ctx, adm, cmd.OutOrStdout(), name, allConfigs); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	describe.Flags().BoolVar(&allConfigs, "all-configs", false, "show every config, not only those set on the topic")

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return deleteTopic(ctx, adm, cmd.OutOrStdout(), args[0])
			})
		},
	}

	var (
		alterPartitions int
		setConfigs      []string
		deleteConfigs   []string
	)
	alter := &cobra.Command{
		Use:   "alter NAME",
		Short: "Add partitions to a topic or change its configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := parseConfigs(setConfigs)
			if err != nil {
				return err
			}
			if alterPartitions <= 0 && len(set) == 0 && len(deleteConfigs) == 0 {
				return errors.New("alter: nothing to do (give --partitions, --config or --delete-config)")
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return alterTopic(ctx, adm, cmd.OutOrStdout(), args[0], int32(alterPartitions), set, deleteConfigs)
			})
		},
	}
	alter.Flags().IntVar(&alterPartitions, "partitions", 0, "new total number of partitions (can only grow)")
	alter.Flags().StringArrayVar(&setConfigs, "config", nil, "set topic config key=value (repeatable)")
	alter.Flags().StringArrayVar(&deleteConfigs, "delete-config", nil, "remove a topic config override, back to the default (repeatable)")

	cmd.AddCommand(create, list, describe, del, alter)
	return cmd
}

func createTopic(ctx context.Context, adm *kadm.Client, w io.Writer, name string, partitions int32, rf int16, cfg map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, name)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	if resp.Err != nil {
		return fmt.Errorf("create topic %s: %w%s", name, resp.Err, errMessage(resp.ErrMessage))
	}
	fmt.Fprintf(w, "created topic %s (partitions %d, replication factor %d)\n", name, resp.NumPartitions, resp.ReplicationFactor)
	return nil
}

func listTopics(ctx context.Context, adm *kadm.Client, w io.Writer) error {
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	if err := topics.Error(); err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, name := range topics.Names() { // sorted
		fmt.Fprintln(w, name)
	}
	return nil
}

func describeTopic(ctx context.Context, adm *kadm.Client, w io.Writer, name string, allConfigs bool) error {
	topics, err := adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", name, err)
	}
	td, ok := topics[name]
	if !ok {
		return fmt.Errorf("describe topic %s: not in metadata response", name)
	}
	if td.Err != nil {
		return fmt.Errorf("describe topic %s: %w", name, td.Err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return fmt.Errorf("describe configs of %s: %w", name, err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return fmt.Errorf("describe configs of %s: %w", name, err)
	}
	if rc.Err != nil {
		return fmt.Errorf("describe configs of %s: %w%s", name, rc.Err, errMessage(rc.ErrMessage))
	}
	var cfgs []string
	for _, c := range rc.Configs {
		if !allConfigs && c.Source != kmsg.ConfigSourceDynamicTopicConfig { // an override set on the topic
			continue
		}
		v := "<null>"
		if c.Value != nil {
			v = *c.Value
		}
		if c.Sensitive {
			v = "<sensitive>"
		}
		cfgs = append(cfgs, c.Key+"="+v)
	}
	sort.Strings(cfgs)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tInternal: %t\n",
		td.Topic, td.ID, len(td.Partitions), td.Partitions.NumReplicas(), td.IsInternal)
	fmt.Fprintf(tw, "Configs: %s\n", strings.Join(cfgs, ","))
	for _, p := range td.Partitions.Sorted() {
		fmt.Fprintf(tw, "\tPartition: %d\tLeader: %d\tLeaderEpoch: %d\tReplicas: %s\tIsr: %s",
			p.Partition, p.Leader, p.LeaderEpoch, joinInt32(p.Replicas), joinInt32(p.ISR))
		if len(p.OfflineReplicas) > 0 {
			fmt.Fprintf(tw, "\tOffline: %s", joinInt32(p.OfflineReplicas))
		}
		if p.Err != nil {
			fmt.Fprintf(tw, "\tError: %v", p.Err)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func deleteTopic(ctx context.Context, adm *kadm.Client, w io.Writer, name string) error {
	resp, err := adm.DeleteTopic(ctx, name)
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	if resp.Err != nil {
		return fmt.Errorf("delete topic %s: %w%s", name, resp.Err, errMessage(resp.ErrMessage))
	}
	fmt.Fprintf(w, "deleted topic %s\n", name)
	return nil
}

func alterTopic(ctx context.Context, adm *kadm.Client, w io.Writer, name string, partitions int32, set map[string]*string, del []string) error {
	if partitions > 0 {
		resp, err := adm.UpdatePartitions(ctx, int(partitions), name)
		if err != nil {
			return fmt.Errorf("alter partitions of %s: %w", name, err)
		}
		r, err := resp.On(name, nil)
		if err != nil {
			return fmt.Errorf("alter partitions of %s: %w", name, err)
		}
		if r.Err != nil {
			return fmt.Errorf("alter partitions of %s: %w%s", name, r.Err, errMessage(r.ErrMessage))
		}
		fmt.Fprintf(w, "topic %s now has %d partitions\n", name, partitions)
	}
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	var alters []kadm.AlterConfig
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: set[k]})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	resps, err := adm.AlterTopicConfigs(ctx, alters, name)
	if err != nil {
		return fmt.Errorf("alter configs of %s: %w", name, err)
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return fmt.Errorf("alter configs of %s: %w", name, err)
	}
	if r.Err != nil {
		return fmt.Errorf("alter configs of %s: %w%s", name, r.Err, errMessage(r.ErrMessage))
	}
	fmt.Fprintf(w, "altered configs of topic %s\n", name)
	return nil
}

func errMessage(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
