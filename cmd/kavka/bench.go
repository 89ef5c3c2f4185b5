package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kavka-io/kavka/bench"
)

// benchFlag binds one flag to a Config field: define adds it to a flag set
// writing into c; copyTo copies that field from c to dst when the flag was
// given, so that flags override a workload file.
type benchFlag struct {
	name   string
	define func(fs *pflag.FlagSet, c *bench.Config)
	copyTo func(dst, c *bench.Config)
}

// benchFlags lists the run flags; their names match the workload keys
// (dashes for underscores).
var benchFlags = []benchFlag{
	{"name", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.StringVar(&c.Name, "name", "", "label for the run (default: the mode)")
	}, func(d, c *bench.Config) { d.Name = c.Name }},
	{"topic", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.StringVar(&c.Topic, "topic", "kavka-bench", "topic, created if missing")
	}, func(d, c *bench.Config) { d.Topic = c.Topic }},
	{"partitions", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Int32Var(&c.Partitions, "partitions", 1, "partitions of a topic the run creates")
	}, func(d, c *bench.Config) { d.Partitions = c.Partitions }},
	{"replication-factor", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Int16Var(&c.ReplicationFactor, "replication-factor", -1, "replication factor of a topic the run creates (-1: broker default)")
	}, func(d, c *bench.Config) { d.ReplicationFactor = c.ReplicationFactor }},
	{"record-size", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.IntVar(&c.RecordSize, "record-size", 1024, "value size in bytes")
	}, func(d, c *bench.Config) { d.RecordSize = c.RecordSize }},
	{"keys", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.StringVar(&c.Keys, "keys", "none", "record keys: none, random, or N distinct keys")
	}, func(d, c *bench.Config) { d.Keys = c.Keys }},
	{"acks", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.StringVar(&c.Acks, "acks", "all", "required acks: all, 1 or 0")
	}, func(d, c *bench.Config) { d.Acks = c.Acks }},
	{"compression", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.StringVar(&c.Compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	}, func(d, c *bench.Config) { d.Compression = c.Compression }},
	{"idempotent", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.BoolVar(&c.Idempotent, "idempotent", false, "idempotent producer (needs acks=all)")
	}, func(d, c *bench.Config) { d.Idempotent = c.Idempotent }},
	{"linger", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.DurationVar(&c.Linger, "linger", 0, "how long a producer waits to fill a batch")
	}, func(d, c *bench.Config) { d.Linger = c.Linger }},
	{"batch-bytes", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Int32Var(&c.BatchBytes, "batch-bytes", 1<<20, "largest batch a producer builds")
	}, func(d, c *bench.Config) { d.BatchBytes = c.BatchBytes }},
	{"producers", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.IntVar(&c.Producers, "producers", 1, "producer clients")
	}, func(d, c *bench.Config) { d.Producers = c.Producers }},
	{"consumers", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.IntVar(&c.Consumers, "consumers", 1, "consumer clients (consume, e2e)")
	}, func(d, c *bench.Config) { d.Consumers = c.Consumers }},
	{"rate", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Float64Var(&c.Rate, "rate", 0, "total produce rate in records/s (0: max)")
	}, func(d, c *bench.Config) { d.Rate = c.Rate }},
	{"peak-fraction", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Float64Var(&c.PeakFraction, "peak-fraction", 0, "e2e with --rate 0: measure the peak first, then run at this fraction of it")
	}, func(d, c *bench.Config) { d.PeakFraction = c.PeakFraction }},
	{"calibrate-for", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.DurationVar(&c.CalibrateFor, "calibrate-for", 5*time.Second, "length of the peak measurement for --peak-fraction")
	}, func(d, c *bench.Config) { d.CalibrateFor = c.CalibrateFor }},
	{"duration", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.DurationVar(&c.Duration, "duration", 0, "run length (default 10s unless --count; consume: until the end offsets)")
	}, func(d, c *bench.Config) { d.Duration = c.Duration }},
	{"count", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Int64Var(&c.Count, "count", 0, "records to produce or consume")
	}, func(d, c *bench.Config) { d.Count = c.Count }},
	{"raw-fetch", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.BoolVar(&c.RawFetch, "raw-fetch", false, "consume with hand-built Fetch requests, counting bytes without decoding records")
	}, func(d, c *bench.Config) { d.RawFetch = c.RawFetch }},
	{"prefill-bytes", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.Int64Var(&c.PrefillBytes, "prefill-bytes", 0, "consume: first fill the topic with this many value bytes (not measured)")
	}, func(d, c *bench.Config) { d.PrefillBytes = c.PrefillBytes }},
	{"idle-connections", func(fs *pflag.FlagSet, c *bench.Config) {
		fs.IntVar(&c.IdleConnections, "idle-connections", 0, "extra connections that send ApiVersions once and stay idle")
	}, func(d, c *bench.Config) { d.IdleConnections = c.IdleConnections }},
}

// benchOutput holds the output flags shared by every bench command.
type benchOutput struct {
	jsonOut    bool
	plot       string
	workload   string
	cpuProfile string
}

func newBenchCmd() *cobra.Command {
	var out benchOutput
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency of any Kafka cluster",
		Long: `Bench drives a Kafka cluster (Kavka, Kafka, Redpanda…) with franz-go clients
and reports records/s, MB/s (10^6 bytes of keys and values) and latency
quantiles from an HDR histogram, with a progress line every second on stderr.

  kavka bench produce --partitions 8 --record-size 1024 --duration 15s
  kavka bench consume --partitions 8 --prefill-bytes 2147483648 --raw-fetch
  kavka bench e2e --rate 50000 --duration 20s --plot e2e.svg
  kavka bench --workload bench/workloads/w2-produce-1k.yaml --json

Latency: produce = until the acknowledgement; e2e = consume time minus the
send time written in each value; raw fetch = each Fetch round trip.
Flags given with --workload override every run of the file.`,
		Args: cobra.NoArgs,
	}
	brokers := addBrokersFlag(cmd)
	cmd.PersistentFlags().BoolVar(&out.jsonOut, "json", false, "print the results as JSON on stdout")
	cmd.PersistentFlags().StringVar(&out.plot, "plot", "", "write latency and throughput over time to this SVG file")
	cmd.PersistentFlags().StringVar(&out.workload, "workload", "", "run the runs of a workload YAML file (bench/workloads/)")
	cmd.PersistentFlags().StringVar(&out.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench client (go tool pprof) to this file")
	var flagCfg bench.Config
	for _, f := range benchFlags {
		f.define(cmd.PersistentFlags(), &flagCfg)
	}
	run := func(mode string) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if mode == "" && out.workload == "" {
				return errors.New("bench: give a mode (produce, consume, e2e) or --workload FILE")
			}
			runs, err := benchRuns(c, mode, out.workload, *brokers, &flagCfg)
			if err != nil {
				return err
			}
			return runBench(c, runs, out)
		}
	}
	cmd.RunE = run("")
	for _, m := range []struct{ mode, short string }{
		{bench.ModeProduce, "Produce as fast as possible or at --rate; latency = ack time"},
		{bench.ModeConsume, "Consume a topic from its start to its end offsets (or --count/--duration)"},
		{bench.ModeE2E, "Produce at --rate while consuming; latency = consume time - send time"},
	} {
		cmd.AddCommand(&cobra.Command{Use: m.mode, Short: m.short, Args: cobra.NoArgs, RunE: run(m.mode)})
	}
	return cmd
}

// benchRuns builds the run list: the workload file's runs with the given
// flags laid over them, or one run from the flags.
func benchRuns(c *cobra.Command, mode, workload, brokers string, flagCfg *bench.Config) ([]bench.Config, error) {
	var seeds []string
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no brokers given (--brokers or KAVKA_BROKERS)")
	}
	if workload == "" {
		cfg := *flagCfg
		cfg.Mode, cfg.Brokers = mode, seeds
		return []bench.Config{cfg}, nil
	}
	src, err := os.ReadFile(workload)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	w, err := bench.ParseWorkload(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", workload, err)
	}
	brokersGiven := c.Flags().Changed("brokers") || os.Getenv("KAVKA_BROKERS") != ""
	for i := range w.Runs {
		r := &w.Runs[i]
		for _, f := range benchFlags {
			if c.Flags().Changed(f.name) {
				f.copyTo(r, flagCfg)
			}
		}
		if mode != "" {
			r.Mode = mode
		}
		if brokersGiven || len(r.Brokers) == 0 {
			r.Brokers = seeds
		}
		if w.Name != "" && r.Name != "" {
			r.Name = w.Name + "/" + r.Name
		} else if r.Name == "" {
			r.Name = w.Name
		}
	}
	return w.Runs, nil
}

// runBench runs each config in turn, printing text summaries (or JSON at
// the end) and the SVG plot.
func runBench(c *cobra.Command, runs []bench.Config, out benchOutput) error {
	ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr, stdout := c.ErrOrStderr(), c.OutOrStdout()
	if out.cpuProfile != "" {
		f, err := os.Create(out.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var results []*bench.Result
	var runErr error
	for _, cfg := range runs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "== %s\n", runName(cfg))
		res, err := bench.Run(ctx, cfg, stderr)
		if res != nil {
			results = append(results, res)
			if !out.jsonOut {
				if werr := res.WriteText(stdout); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("%s: %w", runName(cfg), err))
			if res == nil || errors.Is(err, context.Canceled) {
				break
			}
		}
	}
	if out.jsonOut {
		if err := bench.WriteJSON(stdout, results); err != nil {
			return err
		}
	}
	if out.plot != "" {
		f, err := os.Create(out.plot)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		err = bench.WriteSVG(f, results)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return runErr
}

func runName(cfg bench.Config) string {
	if cfg.Name != "" {
		return cfg.Name
	}
	return cfg.Mode
}
