package commitlog

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/kavka-io/kavka/internal/vfs"
)

// Kafka's checkpoint files are text:
//
//	0                      version
//	N                      number of entries
//	<entry>                N lines, fields separated by one space
//
// leader-epoch-checkpoint entries are "<epoch> <start offset>"; the data
// directory's recovery-point-offset-checkpoint, log-start-offset-checkpoint,
// replication-offset-checkpoint and cleaner-offset-checkpoint entries are
// "<topic> <partition> <offset>". Mirrors kafka.server.checkpoints.CheckpointFile.

const checkpointVersion = 0

// encodeCheckpoint renders entries (each a list of fields) in Kafka's format.
func encodeCheckpoint(entries [][]string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		b.WriteString(strings.Join(e, " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// decodeCheckpoint parses Kafka's format, requiring fields fields per entry.
// Any deviation is an error: the caller rebuilds or ignores the file.
func decodeCheckpoint(data []byte, fields int) ([][]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	v, ok := line()
	if !ok || v != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("checkpoint: bad version line %q", v)
	}
	ns, ok := line()
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 0 || n > len(data) {
		return nil, fmt.Errorf("checkpoint: bad count line %q", ns)
	}
	out := make([][]string, 0, n)
	for range n {
		l, ok := line()
		if !ok {
			return nil, fmt.Errorf("checkpoint: %d entries, want %d", len(out), n)
		}
		f := strings.Split(l, " ")
		if len(f) != fields {
			return nil, fmt.Errorf("checkpoint: entry %q has %d fields, want %d", l, len(f), fields)
		}
		out = append(out, f)
	}
	if l, ok := line(); ok && l != "" {
		return nil, fmt.Errorf("checkpoint: trailing data %q", l)
	}
	return out, nil
}

// partitionKey names a log in the data directory's checkpoint files.
type partitionKey struct {
	topic     string
	partition int32
}

// readOffsetsCheckpoint reads a data-directory checkpoint. A missing or
// corrupt file yields an empty map and the error (callers log it and fall
// back to the safe path).
func readOffsetsCheckpoint(fs vfs.FS, name string) (map[partitionKey]int64, error) {
	out := make(map[partitionKey]int64)
	data, err := readWholeFile(fs, name)
	if err != nil {
		return out, err
	}
	entries, err := decodeCheckpoint(data, 3)
	if err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	for _, e := range entries {
		p, err1 := strconv.ParseInt(e[1], 10, 32)
		o, err2 := strconv.ParseInt(e[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 {
			return make(map[partitionKey]int64), fmt.Errorf("%s: bad entry %q", name, e)
		}
		out[partitionKey{e[0], int32(p)}] = o
	}
	return out, nil
}

func writeOffsetsCheckpoint(fs vfs.FS, name string, m map[partitionKey]int64) error {
	entries := make([][]string, 0, len(m))
	for k, o := range m {
		entries = append(entries, []string{k.topic, strconv.Itoa(int(k.partition)), strconv.FormatInt(o, 10)})
	}
	return writeFileAtomic(fs, name, encodeCheckpoint(entries), true)
}
