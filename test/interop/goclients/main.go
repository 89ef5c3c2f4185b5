// Command goclients drives a Kafka broker with two Go clients that are not
// franz-go — IBM/sarama and segmentio/kafka-go — for Kavka's interop suite
// (test/interop/run.sh), and holds the suite's shared tools: a free-port
// finder, a bounded readiness wait, an API probe, the input generator for
// kcat, the checker every client's output goes through, and a raw-fetch
// check that the stored batches really carry the codec.
//
// It is a separate Go module so these clients never enter the main go.mod.
//
// The record scheme every client uses: record i (0 ≤ i < n) has key
// "key-<i mod 97>" and value "<i, 6 digits>|<padding>". A consumer prints one
// line per record: "partition<TAB>offset<TAB>key<TAB>value".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// padding makes values long and repetitive enough for codecs to matter.
const padding = "the quick brown fox jumps over the lazy dog; kavka interop payload"

func key(i int) string   { return "key-" + strconv.Itoa(i%97) }
func value(i int) string { return fmt.Sprintf("%06d|%s", i, padding) }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goclients freeport|wait|apis|gen|check|codecs|sarama|kafkago|saramagroup [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap broker host:port")
	topic := fs.String("topic", "", "topic to create, produce to and consume from")
	codec := fs.String("codec", "none", "compression: none, gzip, snappy, lz4, zstd")
	n := fs.Int("n", 10000, "number of records")
	partitions := fs.Int("partitions", 3, "partitions of the created topic")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole command")
	sep := fs.String("sep", ":", "key/value separator for gen")
	group := fs.String("group", "", "consumer group for saramagroup")
	kversion := fs.String("kafka-version", "2.8.0", "the Kafka version sarama speaks (its protocol versions follow)")
	_ = fs.Parse(os.Args[2:])

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "freeport":
		err = freePort(os.Stdout)
	case "wait":
		err = waitReady(ctx, *brokers)
	case "apis":
		err = printAPIs(ctx, *brokers, os.Stdout)
	case "gen":
		w := bufio.NewWriter(os.Stdout)
		for i := range *n {
			fmt.Fprintf(w, "%s%s%s\n", key(i), *sep, value(i))
		}
		err = w.Flush()
	case "check":
		err = check(os.Stdin, *n)
	case "codecs":
		err = checkCodecs(ctx, *brokers, *topic, *codec, os.Stdout)
	case "sarama":
		err = runSarama(ctx, *brokers, *topic, *codec, *kversion, *n, *partitions, os.Stdout)
	case "kafkago":
		err = runKafkaGo(ctx, *brokers, *topic, *codec, *n, *partitions, os.Stdout)
	case "saramagroup":
		err = runSaramaGroup(ctx, *brokers, *topic, *group, *n, os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "goclients %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func freePort(w io.Writer) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	_, err = fmt.Fprintln(w, l.Addr().String())
	return err
}

// check reads consumer output lines and verifies: exactly n records, each
// produced record seen once, key matches the record, per partition the
// offsets and the produce order both strictly increase, and every key maps
// to a single partition.
func check(r io.Reader, n int) error {
	seen := make([]bool, n)
	type pos struct {
		offset int64
		i      int
	}
	last := map[int32]pos{}
	keyPart := map[string]int32{}
	count := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for line := 1; sc.Scan(); line++ {
		f := strings.SplitN(sc.Text(), "\t", 4)
		if len(f) != 4 {
			problem("line %d: %q: want 4 tab-separated fields", line, sc.Text())
			continue
		}
		p64, err1 := strconv.ParseInt(f[0], 10, 32)
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		num, _, _ := strings.Cut(f[3], "|")
		i, err3 := strconv.Atoi(num)
		if err := errors.Join(err1, err2, err3); err != nil || i < 0 || i >= n {
			problem("line %d: %q: bad partition, offset or value", line, sc.Text())
			continue
		}
		p := int32(p64)
		count++
		if f[3] != value(i) {
			problem("record %d: value %q, want %q", i, f[3], value(i))
		}
		if f[2] != key(i) {
			problem("record %d: key %q, want %q", i, f[2], key(i))
		}
		if seen[i] {
			problem("record %d seen twice", i)
		}
		seen[i] = true
		if prev, ok := last[p]; ok && (off <= prev.offset || i <= prev.i) {
			problem("partition %d: record %d at offset %d after record %d at offset %d", p, i, off, prev.i, prev.offset)
		}
		last[p] = pos{off, i}
		if kp, ok := keyPart[f[2]]; ok && kp != p {
			problem("key %s on partitions %d and %d", f[2], kp, p)
		}
		keyPart[f[2]] = p
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if count != n {
		problem("consumed %d records, want %d", count, n)
	}
	var missing []int
	for i, ok := range seen {
		if !ok {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		sort.Ints(missing)
		problem("%d records missing, first %d", len(missing), missing[0])
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("ok: %d records in %d partitions\n", count, len(last))
	return nil
}
