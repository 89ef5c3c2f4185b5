// Package file provides FileStreamSource and FileStreamSink, the example
// connectors Kafka ships: the source turns each line of a file into a
// record (resuming at the byte position stored as its source offset), the
// sink appends each record's value to a file as a line.
//
// Like Kafka's, they are meant for demos and tests: one task each, no
// rotation handling.
package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/kavka-io/kavka/connect"
)

// Class names, as Kafka spells them.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
	version     = "1.0.0"
)

// Source is the FileStreamSource connector.
type Source struct{ cfg map[string]string }

// Config implements connect.Connector.
func (*Source) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "file", Type: connect.TypeString, Importance: connect.High,
			Doc: "Source filename. If not specified, the standard input will be used"},
		{Name: "topic", Type: connect.TypeString, Required: true, Importance: connect.High,
			Doc: "The topic to publish data to", Valid: func(v string) error {
				if len(connect.SplitList(v)) != 1 {
					return errors.New("'topic' in FileStreamSourceConnector configuration requires definition of a single topic")
				}
				return nil
			}},
		{Name: "batch.size", Type: connect.TypeInt, Default: "2000", Importance: connect.Low,
			Doc: "The maximum number of records the source task can read from the file each time it is polled", Valid: connect.AtLeast(1)},
	}
}

// Start implements connect.Connector.
func (s *Source) Start(_ context.Context, cfg map[string]string) error { s.cfg = cfg; return nil }

// TaskConfigs implements connect.Connector: one task reads the whole file.
func (s *Source) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{"file": s.cfg["file"], "topic": s.cfg["topic"], "batch.size": s.cfg["batch.size"]}}, nil
}

// Stop implements connect.Connector.
func (*Source) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*Source) Version() string { return version }

// NewTask implements connect.SourceConnector.
func (*Source) NewTask() connect.SourceTask { return &SourceTask{} }

// SourceTask reads lines. Its source partition is {"filename": file} and
// its offset {"position": byte offset after the last line}.
type SourceTask struct {
	filename  string
	topic     string
	batchSize int
	f         io.ReadCloser
	r         *bufio.Reader
	pos       int64
	partial   []byte
}

// Start implements connect.SourceTask: it seeks to the stored position.
func (t *SourceTask) Start(_ context.Context, cfg map[string]string, tc connect.SourceTaskContext) error {
	t.filename, t.topic = cfg["file"], cfg["topic"]
	t.batchSize = 2000
	if v := cfg["batch.size"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("batch.size: invalid value %q", v)
		}
		t.batchSize = n
	}
	if t.filename == "" {
		t.f, t.r = io.NopCloser(os.Stdin), bufio.NewReaderSize(os.Stdin, 64<<10)
		return nil
	}
	off, err := tc.Offset(t.partition())
	if err != nil {
		return fmt.Errorf("read offset: %w", err)
	}
	if p, ok := off["position"]; ok {
		switch x := p.(type) {
		case float64:
			t.pos = int64(x)
		case int64:
			t.pos = x
		}
	}
	return nil
}

func (t *SourceTask) partition() map[string]any { return map[string]any{"filename": t.filename} }

// open opens the file lazily (it may not exist yet) and seeks to pos.
func (t *SourceTask) open() error {
	if t.f != nil {
		return nil
	}
	f, err := os.Open(t.filename)
	if err != nil {
		return err
	}
	if _, err := f.Seek(t.pos, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("seek %s to %d: %w", t.filename, t.pos, err)
	}
	t.f, t.r = f, bufio.NewReaderSize(f, 64<<10)
	return nil
}

// Poll implements connect.SourceTask. At the end of the file it waits up
// to a second for more lines, as Kafka's task does.
func (t *SourceTask) Poll(ctx context.Context) ([]connect.Record, error) {
	if err := t.open(); err != nil {
		if os.IsNotExist(err) {
			return nil, sleep(ctx, time.Second)
		}
		return nil, err
	}
	var out []connect.Record
	for len(out) < t.batchSize {
		line, err := t.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			t.partial = append(t.partial, line...)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("read %s: %w", t.filename, err)
		}
		if len(line) == 0 || line[len(line)-1] != '\n' {
			// End of file in the middle of a line: keep it for later.
			t.partial = append(t.partial, line...)
			break
		}
		n := int64(len(t.partial) + len(line))
		full := line[:len(line)-1]
		if len(t.partial) > 0 {
			full = append(t.partial, full...)
			t.partial = nil
		}
		full = bytes.TrimSuffix(full, []byte{'\r'})
		t.pos += n
		out = append(out, connect.Record{
			Topic: t.topic, Partition: -1,
			ValueSchema: connect.StringSchema, Value: string(full),
			SourcePartition: t.partition(), SourceOffset: map[string]any{"position": t.pos},
		})
	}
	if len(out) == 0 {
		return nil, sleep(ctx, time.Second)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// Stop implements connect.SourceTask.
func (t *SourceTask) Stop(context.Context) error {
	if t.f != nil && t.filename != "" {
		return t.f.Close()
	}
	return nil
}

// Sink is the FileStreamSink connector.
type Sink struct{ cfg map[string]string }

// Config implements connect.Connector.
func (*Sink) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "file", Type: connect.TypeString, Importance: connect.High,
			Doc: "Destination filename. If not specified, the standard output will be used"},
	}
}

// Start implements connect.Connector.
func (s *Sink) Start(_ context.Context, cfg map[string]string) error { s.cfg = cfg; return nil }

// TaskConfigs implements connect.Connector: as Kafka's, every task writes
// the same file, so use tasks.max=1.
func (s *Sink) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{"file": s.cfg["file"]}
	}
	return out, nil
}

// Stop implements connect.Connector.
func (*Sink) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*Sink) Version() string { return version }

// NewTask implements connect.SinkConnector.
func (*Sink) NewTask() connect.SinkTask { return &SinkTask{} }

// SinkTask appends each value and a newline. Flush writes the buffer and
// fsyncs the file, so committed offsets never run ahead of the file.
type SinkTask struct {
	f *os.File
	w *bufio.Writer
}

// Start implements connect.SinkTask.
func (t *SinkTask) Start(_ context.Context, cfg map[string]string, _ connect.SinkTaskContext) error {
	if cfg["file"] == "" {
		t.w = bufio.NewWriterSize(os.Stdout, 64<<10)
		return nil
	}
	f, err := os.OpenFile(cfg["file"], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg["file"], err)
	}
	t.f, t.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

// Put implements connect.SinkTask.
func (t *SinkTask) Put(_ context.Context, records []connect.Record) error {
	for i := range records {
		switch v := records[i].Value.(type) {
		case string:
			t.w.WriteString(v)
		case []byte:
			t.w.Write(v)
		case nil:
			t.w.WriteString("null")
		case map[string]any, []any:
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode value: %w", err)
			}
			t.w.Write(b)
		default:
			fmt.Fprint(t.w, v)
		}
		if err := t.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// Flush implements connect.SinkTask.
func (t *SinkTask) Flush(context.Context, map[connect.TopicPartition]int64) error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if t.f != nil {
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

// Stop implements connect.SinkTask.
func (t *SinkTask) Stop(ctx context.Context) error {
	err := t.w.Flush()
	if t.f != nil {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
