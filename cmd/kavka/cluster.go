package main

// kavka cluster: status, brokers, quorum, partition reassignment and leader
// election, through Kafka's admin APIs only (DescribeCluster,
// DescribeQuorum, Metadata, AlterPartitionReassignments,
// ListPartitionReassignments, ElectLeaders), so it works against any KRaft
// cluster. Mirrors kafka-metadata-quorum.sh, kafka-reassign-partitions.sh
// and kafka-leader-election.sh.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster status, brokers, metadata quorum, partition reassignment and leader election",
	}
	brokers := addBrokersFlag(cmd)
	run := func(f func(ctx context.Context, cl *kgo.Client, out io.Writer) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			cl, err := newClient(*brokers)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context(), requestTimeout)
			defer cancel()
			return f(ctx, cl, c.OutOrStdout())
		}
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Cluster id, active controller, brokers (live or fenced) and partition health",
		Args:  cobra.NoArgs,
		RunE:  run(clusterStatus),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "brokers",
		Short: "List the brokers with their state and how many partitions each leads and holds",
		Args:  cobra.NoArgs,
		RunE:  run(clusterBrokers),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "quorum",
		Short: "Describe the metadata quorum (DescribeQuorum): leader, epoch, voters and observers with their lag",
		Args:  cobra.NoArgs,
		RunE:  run(clusterQuorum),
	})
	cmd.AddCommand(newReassignCmd(run))
	cmd.AddCommand(newElectLeadersCmd(run))
	return cmd
}

type runner = func(f func(ctx context.Context, cl *kgo.Client, out io.Writer) error) func(*cobra.Command, []string) error

// brokerState is one broker as DescribeCluster (v2, with fenced brokers)
// reports it.
type brokerState struct {
	id     int32
	addr   string
	rack   string
	fenced bool
}

func describeCluster(ctx context.Context, cl *kgo.Client) (string, []brokerState, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", nil, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return "", nil, fmt.Errorf("describe cluster: %w", err)
	}
	var out []brokerState
	for _, b := range resp.Brokers {
		bs := brokerState{id: b.NodeID, addr: fmt.Sprintf("%s:%d", b.Host, b.Port), fenced: b.IsFenced}
		if b.Rack != nil {
			bs.rack = *b.Rack
		}
		out = append(out, bs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return resp.ClusterID, out, nil
}

func describeQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, errors.New("describe quorum: malformed response")
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	return p, nil
}

// partitionCounts counts, per broker, the partitions it leads and holds,
// and over the cluster the under-replicated and leaderless partitions.
type partitionCounts struct {
	leads, holds          map[int32]int
	total, under, offline int
	notPreferred          int
}

func countPartitions(ctx context.Context, cl *kgo.Client) (partitionCounts, error) {
	c := partitionCounts{leads: map[int32]int{}, holds: map[int32]int{}}
	md, err := kadm.NewClient(cl).Metadata(ctx)
	if err != nil {
		return c, fmt.Errorf("metadata: %w", err)
	}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			c.total++
			if p.Leader >= 0 {
				c.leads[p.Leader]++
			} else {
				c.offline++
			}
			for _, r := range p.Replicas {
				c.holds[r]++
			}
			if len(p.ISR) < len(p.Replicas) {
				c.under++
			}
			if len(p.Replicas) > 0 && p.Leader != p.Replicas[0] {
				c.notPreferred++
			}
		}
	}
	return c, nil
}

func clusterStatus(ctx context.Context, cl *kgo.Client, out io.Writer) error {
	id, brokers, err := describeCluster(ctx, cl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Cluster ID:        %s\n", id)
	if q, err := describeQuorum(ctx, cl); err != nil {
		fmt.Fprintf(out, "Active controller: unknown (%v)\n", err)
	} else {
		fmt.Fprintf(out, "Active controller: %d (epoch %d, %d voters, %d observers)\n", q.LeaderID, q.LeaderEpoch, len(q.CurrentVoters), len(q.Observers))
	}
	live := 0
	for _, b := range brokers {
		if !b.fenced {
			live++
		}
	}
	fmt.Fprintf(out, "Brokers:           %d live, %d fenced\n", live, len(brokers)-live)
	pc, err := countPartitions(ctx, cl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Partitions:        %d (%d under-replicated, %d offline, %d not led by their preferred replica)\n",
		pc.total, pc.under, pc.offline, pc.notPreferred)
	fmt.Fprintln(out)
	return printBrokers(out, brokers, pc)
}

func clusterBrokers(ctx context.Context, cl *kgo.Client, out io.Writer) error {
	_, brokers, err := describeCluster(ctx, cl)
	if err != nil {
		return err
	}
	pc, err := countPartitions(ctx, cl)
	if err != nil {
		return err
	}
	return printBrokers(out, brokers, pc)
}

func printBrokers(out io.Writer, brokers []brokerState, pc partitionCounts) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tSTATE\tLEADERS\tREPLICAS")
	for _, b := range brokers {
		state, rack := "live", b.rack
		if b.fenced {
			state = "fenced"
		}
		if rack == "" {
			rack = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", b.id, b.addr, rack, state, pc.leads[b.id], pc.holds[b.id])
	}
	return tw.Flush()
}

func clusterQuorum(ctx context.Context, cl *kgo.Client, out io.Writer) error {
	q, err := describeQuorum(ctx, cl)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "LeaderId:       %d\nLeaderEpoch:    %d\nHighWatermark:  %d\n\n", q.LeaderID, q.LeaderEpoch, q.HighWatermark)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tLOG END OFFSET\tLAG")
	row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		if r.ReplicaID == q.LeaderID {
			role = "leader"
		}
		lag := "-"
		if r.LogEndOffset >= 0 && q.HighWatermark >= 0 {
			lag = fmt.Sprint(max(q.HighWatermark-r.LogEndOffset, 0))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", r.ReplicaID, role, r.LogEndOffset, lag)
	}
	for _, r := range q.CurrentVoters {
		row(r, "follower")
	}
	for _, r := range q.Observers {
		row(r, "observer")
	}
	return tw.Flush()
}

// reassignPlan is kafka-reassign-partitions.sh's JSON: {"version":1,
// "partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}.
type reassignPlan struct {
	Version    int                 `json:"version"`
	Partitions []reassignPartition `json:"partitions"`
}

type reassignPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

func readPlan(path string) (*reassignPlan, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p reassignPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse plan %s: %w", path, err)
	}
	if len(p.Partitions) == 0 {
		return nil, fmt.Errorf("plan %s: no partitions", path)
	}
	for _, rp := range p.Partitions {
		if rp.Topic == "" || len(rp.Replicas) == 0 {
			return nil, fmt.Errorf("plan %s: partition %+v needs a topic and replicas", path, rp)
		}
	}
	return &p, nil
}

func newReassignCmd(run runner) *cobra.Command {
	var planPath string
	var execute, verify, cancel bool
	cmd := &cobra.Command{
		Use:   "reassign --plan FILE (--execute | --verify | --cancel)",
		Short: "Move partition replicas with a kafka-reassign-partitions JSON plan",
		Long: `Move partition replicas (KIP-455). The plan is kafka-reassign-partitions.sh's JSON:

  {"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[2,3,4]}]}

--execute prints the current assignment of the planned partitions (keep it to roll back) and
starts the reassignment: new replicas catch up as followers, then the replica set switches and
removed replicas delete their copy. --verify reports each partition as complete, in progress or
different from the plan, and fails while any is not complete. --cancel stops the reassignments
of the planned partitions, reverting to the replicas they had.`,
		Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, cl *kgo.Client, out io.Writer) error {
			if n := btoi(execute) + btoi(verify) + btoi(cancel); n != 1 {
				return errors.New("give exactly one of --execute, --verify, --cancel")
			}
			plan, err := readPlan(planPath)
			if err != nil {
				return err
			}
			switch {
			case execute:
				return reassignExecute(ctx, cl, out, plan, false)
			case cancel:
				return reassignExecute(ctx, cl, out, plan, true)
			}
			return reassignVerify(ctx, cl, out, plan)
		}),
	}
	cmd.Flags().StringVar(&planPath, "plan", "", "the reassignment plan (JSON file, - for stdin)")
	cmd.Flags().BoolVar(&execute, "execute", false, "start the reassignment")
	cmd.Flags().BoolVar(&verify, "verify", false, "report the progress of the reassignment")
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the reassignment of the planned partitions")
	_ = cmd.MarkFlagRequired("plan")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// currentAssignment returns the replicas of every planned partition.
func currentAssignment(ctx context.Context, cl *kgo.Client, plan *reassignPlan) (map[string]map[int32][]int32, error) {
	var topics []string
	for _, rp := range plan.Partitions {
		if !slices.Contains(topics, rp.Topic) {
			topics = append(topics, rp.Topic)
		}
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := map[string]map[int32][]int32{}
	for _, rp := range plan.Partitions {
		t, ok := md.Topics[rp.Topic]
		if !ok || t.Err != nil {
			return nil, fmt.Errorf("topic %s: %v", rp.Topic, t.Err)
		}
		p, ok := t.Partitions[rp.Partition]
		if !ok {
			return nil, fmt.Errorf("partition %s-%d does not exist", rp.Topic, rp.Partition)
		}
		if out[rp.Topic] == nil {
			out[rp.Topic] = map[int32][]int32{}
		}
		out[rp.Topic][rp.Partition] = p.Replicas
	}
	return out, nil
}

func reassignExecute(ctx context.Context, cl *kgo.Client, out io.Writer, plan *reassignPlan, cancel bool) error {
	cur, err := currentAssignment(ctx, cl, plan)
	if err != nil {
		return err
	}
	if !cancel {
		rollback := reassignPlan{Version: 1}
		for _, rp := range plan.Partitions {
			rollback.Partitions = append(rollback.Partitions, reassignPartition{Topic: rp.Topic, Partition: rp.Partition, Replicas: cur[rp.Topic][rp.Partition]})
		}
		b, _ := json.Marshal(rollback)
		fmt.Fprintf(out, "Current partition replica assignment\n\n%s\n\nSave this to use as the --plan during rollback\n", b)
	}
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = int32(requestTimeout.Milliseconds())
	req.AllowReplicationFactorChange = true
	byTopic := map[string]int{}
	for _, rp := range plan.Partitions {
		i, ok := byTopic[rp.Topic]
		if !ok {
			t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			t.Topic = rp.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[rp.Topic] = i
		}
		p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		p.Partition = rp.Partition
		if !cancel {
			p.Replicas = rp.Replicas
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("alter partition reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("alter partition reassignments: %w%s", err, msgSuffix(resp.ErrorMessage))
	}
	var errs []error
	n := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w%s", t.Topic, p.Partition, err, msgSuffix(p.ErrorMessage)))
				continue
			}
			n++
		}
	}
	verb := "Started reassignment of"
	if cancel {
		verb = "Cancelled the reassignment of"
	}
	fmt.Fprintf(out, "%s %d partition(s)\n", verb, n)
	return errors.Join(errs...)
}

func msgSuffix(m *string) string {
	if m == nil || *m == "" {
		return ""
	}
	return ": " + *m
}

func reassignVerify(ctx context.Context, cl *kgo.Client, out io.Writer, plan *reassignPlan) error {
	set := kadm.TopicsSet{}
	for _, rp := range plan.Partitions {
		set.Add(rp.Topic, rp.Partition)
	}
	inProgress, err := kadm.NewClient(cl).ListPartitionReassignments(ctx, set)
	if err != nil {
		return fmt.Errorf("list partition reassignments: %w", err)
	}
	cur, err := currentAssignment(ctx, cl, plan)
	if err != nil {
		return err
	}
	pending := 0
	for _, rp := range plan.Partitions {
		name := fmt.Sprintf("%s-%d", rp.Topic, rp.Partition)
		if r, ok := inProgress[rp.Topic][rp.Partition]; ok {
			fmt.Fprintf(out, "Reassignment of partition %s is still in progress (replicas %v, adding %v, removing %v).\n",
				name, r.Replicas, r.AddingReplicas, r.RemovingReplicas)
			pending++
			continue
		}
		if got := cur[rp.Topic][rp.Partition]; !slices.Equal(got, rp.Replicas) {
			fmt.Fprintf(out, "There is no active reassignment of partition %s, but its replicas are %v, not %v.\n", name, got, rp.Replicas)
			pending++
			continue
		}
		fmt.Fprintf(out, "Reassignment of partition %s is complete.\n", name)
	}
	if pending > 0 {
		return fmt.Errorf("%d of %d partition(s) not reassigned yet", pending, len(plan.Partitions))
	}
	return nil
}

func newElectLeadersCmd(run runner) *cobra.Command {
	var typ, topic string
	var partitions []int32
	var all bool
	cmd := &cobra.Command{
		Use:   "elect-leaders --type (preferred | unclean) (--all | --topic T [--partition P ...])",
		Short: "Elect partition leaders: the preferred replica, or (unclean) any live replica of a leaderless partition",
		Args:  cobra.NoArgs,
		RunE: run(func(ctx context.Context, cl *kgo.Client, out io.Writer) error {
			var how kadm.ElectLeadersHow
			switch strings.ToLower(typ) {
			case "preferred":
				how = kadm.ElectPreferredReplica
			case "unclean":
				how = kadm.ElectLiveReplica
			default:
				return fmt.Errorf("--type %q: want preferred or unclean", typ)
			}
			var set kadm.TopicsSet
			switch {
			case all && topic != "":
				return errors.New("give --all or --topic, not both")
			case all:
			case topic == "":
				return errors.New("give --all or --topic")
			default:
				set = kadm.TopicsSet{}
				if len(partitions) == 0 {
					md, err := kadm.NewClient(cl).Metadata(ctx, topic)
					if err != nil {
						return fmt.Errorf("metadata: %w", err)
					}
					t, ok := md.Topics[topic]
					if !ok || t.Err != nil {
						return fmt.Errorf("topic %s: %v", topic, t.Err)
					}
					for p := range t.Partitions {
						partitions = append(partitions, p)
					}
				}
				set.Add(topic, partitions...)
			}
			res, err := kadm.NewClient(cl).ElectLeaders(ctx, how, set)
			if err != nil {
				return fmt.Errorf("elect leaders: %w", err)
			}
			var rows []kadm.ElectLeadersResult
			for _, ps := range res {
				for _, r := range ps {
					rows = append(rows, r)
				}
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].Topic != rows[j].Topic {
					return rows[i].Topic < rows[j].Topic
				}
				return rows[i].Partition < rows[j].Partition
			})
			elected, notNeeded := 0, 0
			var errs []error
			for _, r := range rows {
				switch {
				case r.Err == nil:
					elected++
					fmt.Fprintf(out, "Elected a leader for %s-%d.\n", r.Topic, r.Partition)
				case errors.Is(r.Err, kerr.ElectionNotNeeded):
					notNeeded++
				default:
					errs = append(errs, fmt.Errorf("%s-%d: %w", r.Topic, r.Partition, r.Err))
				}
			}
			fmt.Fprintf(out, "%d elected, %d needed no election, %d failed.\n", elected, notNeeded, len(errs))
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().StringVar(&typ, "type", "preferred", "election type: preferred or unclean")
	cmd.Flags().StringVar(&topic, "topic", "", "the topic whose partitions to elect")
	cmd.Flags().Int32SliceVar(&partitions, "partition", nil, "partitions of --topic (default: all)")
	cmd.Flags().BoolVar(&all, "all", false, "every partition of the cluster")
	return cmd
}
