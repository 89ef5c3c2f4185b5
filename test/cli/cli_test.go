// Package cli tests the kavka client commands (topic, produce, consume) as a
// user runs them: the real binary against a real broker process started by
// the harness.
package cli

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// run runs the CLI and fails the test if it exits non-zero.
func run(t *testing.T, b *harness.Broker, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := b.CLI(stdin, args...)
	if err != nil {
		t.Fatalf("kavka %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func TestTopicLifecycle(t *testing.T) {
	b := harness.Start(t)

	out := run(t, b, "", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000")
	if !strings.Contains(out, "created topic orders") {
		t.Errorf("create output = %q, want it to confirm the topic", out)
	}
	run(t, b, "", "topic", "create", "payments", "--partitions", "1")

	out = run(t, b, "", "topic", "list")
	if got, want := strings.Fields(out), []string{"orders", "payments"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topic list = %q, want %q", got, want)
	}

	out = run(t, b, "", "topic", "describe", "orders")
	for _, want := range []string{"Topic: orders", "PartitionCount: 3", "ReplicationFactor: 1",
		"retention.ms=3600000", "Partition: 0", "Partition: 2", "Leader:", "Isr:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}

	out = run(t, b, "", "topic", "describe", "orders", "--all-configs")
	for _, want := range []string{"retention.ms=3600000", "cleanup.policy=delete", "segment.bytes="} {
		if !strings.Contains(out, want) {
			t.Errorf("describe --all-configs lacks %q:\n%s", want, out)
		}
	}
	out = run(t, b, "", "topic", "describe")
	if !strings.Contains(out, "Topic: orders") || !strings.Contains(out, "Topic: payments") {
		t.Errorf("describe without a name should describe every topic:\n%s", out)
	}

	// Kafka's validation and error codes come through.
	if _, errOut, err := b.CLI("", "topic", "create", "bad", "--partitions", "1", "--config", "retention.ms=soon"); err == nil ||
		!strings.Contains(errOut, "INVALID_CONFIG") {
		t.Errorf("create with retention.ms=soon: err = %v, stderr = %q; want INVALID_CONFIG", err, errOut)
	}
	if _, errOut, err := b.CLI("", "topic", "create", "bad/name", "--partitions", "1"); err == nil ||
		!strings.Contains(errOut, "INVALID_TOPIC_EXCEPTION") {
		t.Errorf("create bad/name: err = %v, stderr = %q; want INVALID_TOPIC_EXCEPTION", err, errOut)
	}

	// Creating it again fails with Kafka's TOPIC_ALREADY_EXISTS.
	if _, errOut, err := b.CLI("", "topic", "create", "orders", "--partitions", "1"); err == nil ||
		!strings.Contains(errOut, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("second create: err = %v, stderr = %q; want TOPIC_ALREADY_EXISTS", err, errOut)
	}

	run(t, b, "", "topic", "alter", "orders", "--partitions", "5")
	run(t, b, "", "topic", "alter", "orders", "--config", "retention.ms=7200000")
	out = run(t, b, "", "topic", "describe", "orders")
	for _, want := range []string{"PartitionCount: 5", "Partition: 4", "retention.ms=7200000"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe after alter lacks %q:\n%s", want, out)
		}
	}
	run(t, b, "", "topic", "alter", "orders", "--delete-config", "retention.ms")
	out = run(t, b, "", "topic", "describe", "orders")
	if strings.Contains(out, "retention.ms=") {
		t.Errorf("describe after --delete-config still shows retention.ms:\n%s", out)
	}

	run(t, b, "", "topic", "delete", "payments")
	out = run(t, b, "", "topic", "list")
	if got, want := strings.Fields(out), []string{"orders"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("topic list after delete = %q, want %q", got, want)
	}
	if _, _, err := b.CLI("", "topic", "describe", "payments"); err == nil {
		t.Errorf("describe of a deleted topic succeeded, want an error")
	}
}

func TestProduceConsume(t *testing.T) {
	b := harness.Start(t)
	run(t, b, "", "topic", "create", "events", "--partitions", "3", "--replication-factor", "1")

	codecs := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	var want []string
	for _, codec := range codecs {
		var in strings.Builder
		for i := range 20 {
			fmt.Fprintf(&in, "key-%d:%s value %d with: a colon\n", i%4, codec, i)
		}
		_, errOut, err := b.CLI(in.String(), "produce", "events", "--key-separator", ":",
			"--header", "codec="+codec, "--header", "app=cli-test", "--compression", codec)
		if err != nil {
			t.Fatalf("produce with %s: %v\n%s", codec, err, errOut)
		}
		if !strings.Contains(errOut, "produced 20 records") {
			t.Errorf("produce with %s: summary = %q, want 20 records", codec, errOut)
		}
		for i := range 20 {
			want = append(want, fmt.Sprintf("key-%d|%s value %d with: a colon|codec=%s,app=cli-test", i%4, codec, i, codec))
		}
	}

	out := run(t, b, "", "consume", "events", "--from-beginning", "--count", "100", "--timeout", "20s",
		"--format", `%p %o %k|%v|%h\n`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 100 {
		t.Fatalf("consumed %d lines, want 100:\n%s", len(lines), out)
	}
	// Per partition, offsets are dense from 0 and records keep produce
	// order; one key always lands on one partition.
	nextOffset := map[string]int{}
	keyPartition := map[string]string{}
	var got []string
	perPartition := map[string][]string{}
	for _, l := range lines {
		var p string
		var off int
		var rest string
		head, rest, _ := strings.Cut(l, " ")
		p = head
		offStr, rest, _ := strings.Cut(rest, " ")
		if _, err := fmt.Sscan(offStr, &off); err != nil {
			t.Fatalf("bad line %q", l)
		}
		if off != nextOffset[p] {
			t.Errorf("partition %s: offset %d, want %d", p, off, nextOffset[p])
		}
		nextOffset[p] = off + 1
		key, _, _ := strings.Cut(rest, "|")
		if prev, ok := keyPartition[key]; ok && prev != p {
			t.Errorf("key %s on partitions %s and %s", key, prev, p)
		}
		keyPartition[key] = p
		got = append(got, rest)
		perPartition[p] = append(perPartition[p], rest)
	}
	for p, recs := range perPartition {
		var exp []string
		for _, w := range want {
			k, _, _ := strings.Cut(w, "|")
			if keyPartition[k] == p {
				exp = append(exp, w)
			}
		}
		if fmt.Sprint(recs) != fmt.Sprint(exp) {
			t.Errorf("partition %s records out of order or wrong:\n got %q\nwant %q", p, recs, exp)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("consumed records differ from produced ones:\n got %q\nwant %q", got, want)
	}
}

func TestProduceToPartitionAndConsumeFromOffset(t *testing.T) {
	b := harness.Start(t)
	run(t, b, "", "topic", "create", "p", "--partitions", "2", "--replication-factor", "1")
	run(t, b, "a\nb\nc\nd\n", "produce", "p", "--partition", "1", "--acks", "1")
	run(t, b, "x\n", "produce", "p", "--partition", "0", "--acks", "all")

	f := func(want string, args ...string) {
		t.Helper()
		out := run(t, b, "", append([]string{"consume", "p", "--timeout", "3s"}, args...)...)
		if out != want {
			t.Errorf("consume %s = %q, want %q", strings.Join(args, " "), out, want)
		}
	}
	f("a\nb\nc\nd\n", "--partition", "1", "--from-beginning")
	f("c\nd\n", "--partition", "1", "--offset", "2")
	f("d\n", "--partition", "1", "--offset", "-1")
	f("1:2=c\n", "--partition", "1", "--offset", "2", "--count", "1", "--format", `%p:%o=%v\n`)
	f("x\n", "--partition", "0", "--from-beginning")
	f("", "--partition", "1") // from the end: nothing new
	f("a\nb\nc\nd\n", "--partition", "1", "--timestamp", "0")
}

func TestProduceFailsOnUnknownPartition(t *testing.T) {
	b := harness.Start(t)
	run(t, b, "", "topic", "create", "small", "--partitions", "1", "--replication-factor", "1")
	_, errOut, err := b.CLI("v\n", "produce", "small", "--partition", "7", "--timeout", "5s")
	if err == nil {
		t.Fatalf("produce to partition 7 of a 1-partition topic succeeded; stderr %q", errOut)
	}
	if !strings.Contains(errOut, "1 failed") {
		t.Errorf("stderr = %q, want a summary with 1 failed", errOut)
	}
}

func TestConsumeInGroupCommits(t *testing.T) {
	b := harness.Start(t)
	run(t, b, "", "topic", "create", "g", "--partitions", "2", "--replication-factor", "1")
	run(t, b, "k1:a\nk2:b\nk3:c\nk4:d\n", "produce", "g", "--key-separator", ":")

	consume := func(args ...string) []string {
		t.Helper()
		out := run(t, b, "", append([]string{"consume", "g", "--group", "cli-group", "--format", `%k=%v\n`}, args...)...)
		lines := strings.Fields(out)
		sort.Strings(lines)
		return lines
	}
	if got, want := consume("--from-beginning", "--count", "4", "--timeout", "20s"), []string{"k1=a", "k2=b", "k3=c", "k4=d"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first group consume = %q, want %q", got, want)
	}
	run(t, b, "k5:e\nk6:f\n", "produce", "g", "--key-separator", ":")
	// The group resumes from its committed offsets: only the new records,
	// although --from-beginning would reset a group without commits.
	if got, want := consume("--from-beginning", "--count", "2", "--timeout", "20s"), []string{"k5=e", "k6=f"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("second group consume = %q, want %q", got, want)
	}
}

func TestProduceAutoCreatesAndConsumeOfMissingTopicFails(t *testing.T) {
	b := harness.Start(t)
	// The broker's auto.create.topics.enable defaults to true, as Kafka's.
	run(t, b, "hello\n", "produce", "auto-created")
	if out := run(t, b, "", "consume", "auto-created", "--from-beginning", "--count", "1", "--timeout", "10s"); out != "hello\n" {
		t.Errorf("consume of the auto-created topic = %q, want %q", out, "hello\n")
	}
	_, errOut, err := b.CLI("", "consume", "no-such-topic", "--timeout", "2s")
	if err == nil || !strings.Contains(errOut, "does not exist") {
		t.Errorf("consume of a missing topic: err = %v, stderr = %q; want an error saying it does not exist", err, errOut)
	}
}
