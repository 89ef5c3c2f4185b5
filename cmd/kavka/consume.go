package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOptions configures consumeRecords.
type consumeOptions struct {
	Count  int64         // stop after this many records; 0 = no limit
	Idle   time.Duration // stop when no record arrived for this long; 0 = never
	Commit bool          // commit the offsets of written records (group mode)
}

func newConsumeCmd() *cobra.Command {
	var (
		fromBeginning bool
		fromEnd       bool
		offset        int64
		timestamp     string
		partition     int32
		count         int64
		idle          time.Duration
		format        string
		group         string
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Consume records and print them with a format",
		Long: `Consume prints the records of a topic, by default only new ones (--from-end).

The --format template understands (kcat-like):
  %v or %s  value          %V or %S  value length
  %k        key            %K        key length
  %p        partition      %o        offset
  %t or %T  timestamp (ms since the epoch)
  %h        headers as k=v,k2=v2     %n  topic name
  %%        a literal %    \n \t \r \\  escapes
A null key or value prints as nothing.`,
		Args: cobra.ExactArgs(1),
	}
	brokers := addBrokersFlag(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&fromBeginning, "from-beginning", false, "start at the earliest offset")
	fl.BoolVar(&fromEnd, "from-end", false, "start at the end: only new records (the default)")
	fl.Int64Var(&offset, "offset", 0, "start at this offset (negative: this many before the end)")
	fl.StringVar(&timestamp, "timestamp", "", "start at the first record at or after this time (ms since the epoch or RFC 3339)")
	fl.Int32Var(&partition, "partition", -1, "consume only this partition (-1: all)")
	fl.Int64Var(&count, "count", 0, "stop after this many records (0: no limit)")
	fl.DurationVar(&idle, "timeout", 0, "stop when no record arrives for this long (0: wait forever)")
	fl.StringVar(&format, "format", `%v\n`, "output template, see above")
	fl.StringVar(&group, "group", "", "consume as a member of this consumer group and commit offsets")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		topic := args[0]
		tmpl, err := parseFormat(format)
		if err != nil {
			return err
		}
		start, err := startOffset(fromBeginning, fromEnd, fl.Changed("offset"), offset, timestamp)
		if err != nil {
			return err
		}
		opts := []kgo.Opt{kgo.FetchMaxWait(time.Second)}
		switch {
		case group != "" && partition >= 0:
			return errors.New("consume: --group and --partition are exclusive")
		case group != "":
			opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(start), kgo.DisableAutoCommit())
		case partition >= 0:
			opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: start}}))
		default:
			opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))
		}
		cl, err := newClient(*brokers, opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := topicExists(ctx, cl, topic); err != nil {
			return err
		}
		_, err = consumeRecords(ctx, cl, cmd.OutOrStdout(), tmpl, consumeOptions{Count: count, Idle: idle, Commit: group != ""})
		return err
	}
	return cmd
}

// startOffset picks where to start from the mutually exclusive flags.
func startOffset(fromBeginning, fromEnd, haveOffset bool, offset int64, timestamp string) (kgo.Offset, error) {
	n := 0
	for _, b := range []bool{fromBeginning, fromEnd, haveOffset, timestamp != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return kgo.Offset{}, errors.New("consume: give at most one of --from-beginning, --from-end, --offset, --timestamp")
	}
	switch {
	case fromBeginning:
		return kgo.NewOffset().AtStart(), nil
	case haveOffset && offset >= 0:
		return kgo.NewOffset().At(offset), nil
	case haveOffset:
		return kgo.NewOffset().AtEnd().Relative(offset), nil
	case timestamp != "":
		ms, err := parseTimestamp(timestamp)
		if err != nil {
			return kgo.Offset{}, err
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	default:
		return kgo.NewOffset().AtEnd(), nil
	}
}

// topicExists fails fast, as kcat does, when the topic is not in the
// cluster's metadata; kgo would otherwise wait for it silently.
func topicExists(ctx context.Context, cl *kgo.Client, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if td, ok := topics[topic]; !ok || td.Err != nil {
		if errors.Is(td.Err, kerr.UnknownTopicOrPartition) || !ok {
			return fmt.Errorf("consume: topic %s does not exist", topic)
		}
		return fmt.Errorf("metadata of %s: %w", topic, td.Err)
	}
	return nil
}

// parseTimestamp accepts milliseconds since the epoch or RFC 3339.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: want milliseconds since the epoch or RFC 3339", s)
	}
	return t.UnixMilli(), nil
}

// consumeRecords polls cl and writes each record through tmpl until Count
// records were written, nothing arrived for Idle, or ctx is done (which is
// not an error: it is how an interactive consumer stops). It returns the
// number of records written.
func consumeRecords(ctx context.Context, cl *kgo.Client, w io.Writer, tmpl format, opts consumeOptions) (int64, error) {
	bw := bufio.NewWriter(w)
	var (
		n   int64
		buf []byte
	)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if opts.Idle > 0 {
			pctx, cancel = context.WithTimeout(ctx, opts.Idle)
		}
		fetches := cl.PollFetches(pctx)
		idle := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return n, bw.Flush()
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if fetchErr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s[%d]: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			_ = bw.Flush()
			return n, fetchErr
		}
		var done []*kgo.Record
		iter := fetches.RecordIter()
		for !iter.Done() && (opts.Count == 0 || n < opts.Count) {
			r := iter.Next()
			buf = tmpl.append(buf[:0], r)
			if _, err := bw.Write(buf); err != nil {
				return n, fmt.Errorf("write output: %w", err)
			}
			n++
			if opts.Commit {
				done = append(done, r)
			}
		}
		if err := bw.Flush(); err != nil {
			return n, fmt.Errorf("write output: %w", err)
		}
		if len(done) > 0 {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			err := cl.CommitRecords(cctx, done...)
			ccancel()
			if err != nil {
				return n, fmt.Errorf("commit offsets: %w", err)
			}
		}
		if opts.Count > 0 && n >= opts.Count {
			return n, nil
		}
		if idle && fetches.NumRecords() == 0 {
			return n, nil
		}
	}
}

// format is a parsed --format template: literal text and record fields.
type format []formatPart

type formatPart struct {
	lit   string // literal text when verb == 0
	field byte   // the verb: one of vsVSkKpotThn
}

// parseFormat parses a kcat-like template (see `kavka consume --help`).
func parseFormat(s string) (format, error) {
	var (
		f   format
		lit []byte
	)
	flush := func() {
		if len(lit) > 0 {
			f = append(f, formatPart{lit: string(lit)})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("format %q: trailing %%", s)
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit = append(lit, '%')
			case 'v', 's', 'V', 'S', 'k', 'K', 'p', 'o', 't', 'T', 'h', 'n':
				flush()
				f = append(f, formatPart{field: v})
			default:
				return nil, fmt.Errorf("format %q: unknown verb %%%c", s, v)
			}
		case '\\':
			if i+1 >= len(s) {
				lit = append(lit, '\\')
				continue
			}
			i++
			switch e := s[i]; e {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '0':
				lit = append(lit, 0)
			case '\\':
				lit = append(lit, '\\')
			default:
				lit = append(lit, '\\', e)
			}
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return f, nil
}

// append appends r rendered through f to dst.
func (f format) append(dst []byte, r *kgo.Record) []byte {
	for _, p := range f {
		switch p.field {
		case 0:
			dst = append(dst, p.lit...)
		case 'v', 's':
			dst = append(dst, r.Value...)
		case 'V', 'S':
			dst = strconv.AppendInt(dst, int64(len(r.Value)), 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'K':
			dst = strconv.AppendInt(dst, int64(len(r.Key)), 10)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 't', 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'n':
			dst = append(dst, r.Topic...)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}
