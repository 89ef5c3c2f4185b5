package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// newGroupCmd is `kavka group`: consumer group administration through kadm,
// against any Kafka cluster (kafka-consumer-groups.sh equivalents).
func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, delete consumer groups and reset their offsets",
	}
	brokers := addBrokersFlag(cmd)
	withAdmin := func(run func(ctx context.Context, adm *kadm.Client, w io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			cl, err := newClient(*brokers)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context(), 30*time.Second)
			defer cancel()
			return run(ctx, kadm.NewClient(cl), c.OutOrStdout(), args)
		}
	}

	var states []string
	list := &cobra.Command{
		Use:   "list",
		Short: "List groups (optionally only those in --state)",
		Args:  cobra.NoArgs,
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, w io.Writer, _ []string) error {
			return listGroups(ctx, adm, w, states)
		}),
	}
	list.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Empty, Stable, PreparingRebalance, CompletingRebalance, Dead)")

	describe := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show members, assignments, committed offsets, log end offsets and lag",
		Args:  cobra.MinimumNArgs(1),
		RunE:  withAdmin(describeGroups),
	}

	del := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE:  withAdmin(deleteGroups),
	}

	var ro resetOpts
	reset := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Reset a group's committed offsets (dry run unless --execute)",
		Args:  cobra.ExactArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, w io.Writer, args []string) error {
			return resetOffsets(ctx, adm, w, args[0], ro)
		}),
	}
	f := reset.Flags()
	f.StringSliceVar(&ro.topics, "topic", nil, "topics to reset (default: every topic the group has offsets for)")
	f.BoolVar(&ro.earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&ro.latest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&ro.offset, "to-offset", -1, "reset to this offset (clamped to the log's range)")
	f.StringVar(&ro.datetime, "to-datetime", "", "reset to the first offset at or after this time (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	f.BoolVar(&ro.execute, "execute", false, "commit the new offsets (default: only show them)")

	cmd.AddCommand(list, describe, del, reset)
	return cmd
}

func listGroups(ctx context.Context, adm *kadm.Client, w io.Writer, states []string) error {
	gs, err := adm.ListGroups(ctx, states...)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL TYPE\tCOORDINATOR")
	for _, g := range gs.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", g.Group, g.State, g.ProtocolType, g.Coordinator)
	}
	return tw.Flush()
}

func describeGroups(ctx context.Context, adm *kadm.Client, w io.Writer, groups []string) error {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return fmt.Errorf("describe groups: %w", err)
	}
	var errs []error
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			errs = append(errs, fmt.Errorf("group %s: no answer", g))
			continue
		}
		if err := l.Error(); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
			continue
		}
		fmt.Fprintf(w, "GROUP %s  state=%s  protocol=%s/%s  coordinator=%d  members=%d\n\n",
			g, l.State, l.ProtocolType, l.Protocol, l.Coordinator.NodeID, len(l.Members))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER\tINSTANCE\tCLIENT\tHOST\tASSIGNMENT")
		for _, m := range l.Members {
			inst := "-"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, inst, m.ClientID, m.ClientHost, assignment(m))
		}
		tw.Flush()
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG END\tLAG\tMEMBER")
		for _, pl := range l.Lag.Sorted() {
			committed, lag := "-", "-"
			if pl.Commit.At >= 0 {
				committed = fmt.Sprint(pl.Commit.At)
			}
			if pl.Lag >= 0 {
				lag = fmt.Sprint(pl.Lag)
			}
			member := "-"
			if pl.Member != nil {
				member = pl.Member.MemberID
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\n", pl.Topic, pl.Partition, committed, pl.End.Offset, lag, member)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	return errors.Join(errs...)
}

// assignment renders a consumer member's assigned partitions as
// "topic:0,1 other:3".
func assignment(m kadm.DescribedGroupMember) string {
	c, ok := m.Assigned.AsConsumer()
	if !ok || c == nil {
		return "-"
	}
	var parts []string
	for _, t := range c.Topics {
		ps := append([]int32(nil), t.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		strs := make([]string, len(ps))
		for i, p := range ps {
			strs[i] = fmt.Sprint(p)
		}
		parts = append(parts, t.Topic+":"+strings.Join(strs, ","))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func deleteGroups(ctx context.Context, adm *kadm.Client, w io.Writer, groups []string) error {
	rs, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("delete groups: %w", err)
	}
	var errs []error
	for _, g := range groups {
		r, ok := rs[g]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %s: no answer", g))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("group %s: %w", g, r.Err))
		default:
			fmt.Fprintf(w, "deleted group %s\n", g)
		}
	}
	return errors.Join(errs...)
}

type resetOpts struct {
	topics           []string
	earliest, latest bool
	offset           int64
	datetime         string
	execute          bool
}

func resetOffsets(ctx context.Context, adm *kadm.Client, w io.Writer, group string, o resetOpts) error {
	n := 0
	for _, set := range []bool{o.earliest, o.latest, o.offset >= 0, o.datetime != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")
	}
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe group: %w", err)
	}
	if d, ok := ds[group]; ok && d.Err == nil && d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("group %s is %s with %d members: stop its consumers first", group, d.State, len(d.Members))
	}
	topics := o.topics
	if len(topics) == 0 {
		cur, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return fmt.Errorf("fetch offsets: %w", err)
		}
		topics = cur.Offsets().TopicsSet().Topics()
		if len(topics) == 0 {
			return fmt.Errorf("group %s has no committed offsets; name the topics with --topic", group)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	var target kadm.Offsets
	switch {
	case o.earliest:
		target = starts.Offsets()
	case o.latest:
		target = ends.Offsets()
	case o.offset >= 0:
		target = make(kadm.Offsets)
		starts.Each(func(s kadm.ListedOffset) {
			e, _ := ends.Lookup(s.Topic, s.Partition)
			at := min(max(o.offset, s.Offset), e.Offset)
			target.Add(kadm.Offset{Topic: s.Topic, Partition: s.Partition, At: at, LeaderEpoch: -1})
		})
	default:
		ts, err := time.Parse(time.RFC3339, o.datetime)
		if err != nil {
			return fmt.Errorf("--to-datetime: %w", err)
		}
		after, err := adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topics...)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return fmt.Errorf("list offsets after %s: %w", o.datetime, err)
		}
		target = after.Offsets()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tNEW OFFSET")
	for _, t := range target.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Topic, t.Partition, t.At)
	}
	tw.Flush()
	if !o.execute {
		fmt.Fprintln(w, "dry run: nothing committed (add --execute)")
		return nil
	}
	if err := adm.CommitAllOffsets(ctx, group, target); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	fmt.Fprintf(w, "committed %d offsets for group %s\n", len(target.Sorted()), group)
	return nil
}
