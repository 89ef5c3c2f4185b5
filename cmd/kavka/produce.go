package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxLineBytes bounds one input line (one record); Kafka's default
// message.max.bytes is about 1 MiB, so this leaves room for raised limits.
const maxLineBytes = 16 << 20

// produceOptions configures produceLines.
type produceOptions struct {
	Topic        string
	KeySeparator string             // split each line into key and value on the first occurrence; "" = no key
	Headers      []kgo.RecordHeader // added to every record
	Partition    int32              // -1 = the client's partitioner (murmur2 of the key, like Kafka's)
}

// produceStats is what produceLines reports.
type produceStats struct {
	Records  int64 // acknowledged records
	Bytes    int64 // key+value bytes of the acknowledged records
	Failed   int64 // records that were not acknowledged
	FirstErr error // the first delivery error, if any
}

func newProduceCmd() *cobra.Command {
	var (
		keySep      string
		headers     []string
		partition   int32
		compression string
		acks        string
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce lines from stdin as records, one per line",
		Long: `Produce reads stdin line by line and sends each line as one record.

With --key-separator S, each line is split on the first S into key and value;
a line without S is sent with a null key. Exits non-zero if any record was not
acknowledged; a summary goes to stderr.`,
		Args: cobra.ExactArgs(1),
	}
	brokers := addBrokersFlag(cmd)
	cmd.Flags().StringVar(&keySep, "key-separator", "", "split each line into key and value on the first occurrence of this string")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "record header key=value added to every record (repeatable)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "produce to this partition (-1: partition by key)")
	cmd.Flags().StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	cmd.Flags().StringVar(&acks, "acks", "all", "required acks: all, 1 or 0")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long one record may take to be delivered")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts := produceOptions{Topic: args[0], KeySeparator: keySep, Partition: partition}
		for _, h := range headers {
			k, v, ok := strings.Cut(h, "=")
			if !ok || k == "" {
				return fmt.Errorf("header %q: want key=value", h)
			}
			opts.Headers = append(opts.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		kopts, err := producerOpts(compression, acks, partition >= 0, timeout)
		if err != nil {
			return err
		}
		cl, err := newClient(*brokers, kopts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		stats, err := produceLines(ctx, cl, cmd.InOrStdin(), opts)
		fmt.Fprintf(cmd.ErrOrStderr(), "produced %d records (%d bytes) to %s, %d failed\n",
			stats.Records, stats.Bytes, opts.Topic, stats.Failed)
		if err != nil {
			return err
		}
		if stats.Failed > 0 {
			return fmt.Errorf("produce: %d records failed, first error: %w", stats.Failed, stats.FirstErr)
		}
		return nil
	}
	return cmd
}

// producerOpts maps the CLI flags to kgo options.
func producerOpts(compression, acks string, manualPartition bool, timeout time.Duration) ([]kgo.Opt, error) {
	// Like kcat and the Java console producer, let the broker create a
	// missing topic if its auto.create.topics.enable allows it.
	opts := []kgo.Opt{kgo.AllowAutoTopicCreation()}
	switch compression {
	case "none", "":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return nil, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", compression)
	}
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("acks %q: want all, 1 or 0", acks)
	}
	if manualPartition {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	if timeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(timeout), kgo.ProduceRequestTimeout(timeout))
	}
	return opts, nil
}

// splitLine splits one input line into key and value on the first sep.
// With no sep, or a line without it, the key is nil (a null key).
func splitLine(line []byte, sep string) (key, value []byte) {
	if sep == "" {
		return nil, line
	}
	i := strings.Index(string(line), sep)
	if i < 0 {
		return nil, line
	}
	return line[:i], line[i+len(sep):]
}

// produceLines sends every line of r as one record and waits for all of
// them to be acknowledged (or to fail). It returns an error only for input
// or context problems; delivery failures are counted in the stats.
func produceLines(ctx context.Context, cl *kgo.Client, r io.Reader, opts produceOptions) (produceStats, error) {
	var (
		mu    sync.Mutex
		stats produceStats
	)
	done := func(rec *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			stats.Failed++
			if stats.FirstErr == nil {
				stats.FirstErr = err
			}
			return
		}
		stats.Records++
		stats.Bytes += int64(len(rec.Key) + len(rec.Value))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var inputErr error
	for sc.Scan() {
		line := sc.Bytes()
		key, value := splitLine(line, opts.KeySeparator)
		rec := &kgo.Record{Topic: opts.Topic, Value: clone(value), Headers: opts.Headers}
		if key != nil {
			rec.Key = clone(key)
		}
		if opts.Partition >= 0 {
			rec.Partition = opts.Partition
		}
		// Produce blocks while the buffer is full and fails the record
		// through done if ctx is cancelled, so this loop is bounded by the
		// input and by the delivery timeout.
		cl.Produce(ctx, rec, done)
		if ctx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		inputErr = fmt.Errorf("read input: %w", err)
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	if inputErr != nil {
		return stats, inputErr
	}
	if flushErr != nil && !errors.Is(flushErr, context.Canceled) {
		return stats, fmt.Errorf("flush: %w", flushErr)
	}
	return stats, ctx.Err()
}

func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
