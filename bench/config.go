package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Modes of a run.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
)

// Config describes one benchmark run. The yaml names are the workload-file
// keys; the CLI flags carry the same names with dashes.
type Config struct {
	// Name labels the run in output; default: the mode.
	Name string `yaml:"name" json:"name"`
	// Mode is produce, consume or e2e.
	Mode string `yaml:"mode" json:"mode"`
	// Brokers are the seed brokers host:port.
	Brokers []string `yaml:"brokers" json:"brokers"`
	// Topic is created with Partitions partitions if it does not exist.
	// Default "kavka-bench".
	Topic string `yaml:"topic" json:"topic"`
	// Partitions of a topic this run creates. Default 1.
	Partitions int32 `yaml:"partitions" json:"partitions"`
	// ReplicationFactor of a topic this run creates; -1 = broker default.
	ReplicationFactor int16 `yaml:"replication_factor" json:"replication_factor"`
	// RecordSize is the value size in bytes. Default 1024.
	RecordSize int `yaml:"record_size" json:"record_size"`
	// Keys is "none", "random" (16 random bytes) or a number N of distinct
	// keys drawn uniformly. Default none (records spread round robin).
	Keys string `yaml:"keys" json:"keys"`
	// Acks is all, 1 or 0. Default all.
	Acks string `yaml:"acks" json:"acks"`
	// Compression is none, gzip, snappy, lz4 or zstd. Default none.
	Compression string `yaml:"compression" json:"compression"`
	// Idempotent enables the idempotent producer (requires acks=all).
	Idempotent bool `yaml:"idempotent" json:"idempotent"`
	// Linger is how long a producer waits to fill a batch. Default 0.
	Linger time.Duration `yaml:"linger" json:"linger"`
	// BatchBytes is the largest batch a producer builds. Default 1 MiB.
	BatchBytes int32 `yaml:"batch_bytes" json:"batch_bytes"`
	// Producers is the number of producer clients. Default 1.
	Producers int `yaml:"producers" json:"producers"`
	// Consumers is the number of consumer clients (consume, e2e). Default 1.
	Consumers int `yaml:"consumers" json:"consumers"`
	// Rate is the total target produce rate in records/s; 0 = as fast as
	// the cluster takes them.
	Rate float64 `yaml:"rate" json:"rate"`
	// PeakFraction, for e2e with Rate 0, first produces at full speed for
	// CalibrateFor, takes the ack rate of its second half as the peak, and
	// then runs at this fraction of it.
	PeakFraction float64 `yaml:"peak_fraction" json:"peak_fraction,omitempty"`
	// CalibrateFor is the length of the peak measurement. Default 5s.
	CalibrateFor time.Duration `yaml:"calibrate_for" json:"calibrate_for,omitempty"`
	// Duration bounds the run; Count bounds the records. With neither, the
	// run lasts 10s. Consume without either stops at the end offsets seen
	// at its start.
	Duration time.Duration `yaml:"duration" json:"duration"`
	Count    int64         `yaml:"count" json:"count"`
	// RawFetch makes consume issue Fetch requests itself and count bytes
	// without decoding records.
	RawFetch bool `yaml:"raw_fetch" json:"raw_fetch"`
	// PrefillBytes, for consume, first produces records until the topic
	// holds at least this many value bytes (not measured).
	PrefillBytes int64 `yaml:"prefill_bytes" json:"prefill_bytes,omitempty"`
	// IdleConnections opens this many extra client connections that send
	// one ApiVersions request and then stay idle for the whole run.
	IdleConnections int `yaml:"idle_connections" json:"idle_connections,omitempty"`
}

// Workload is a named list of runs read from a YAML file: each run is the
// base config overridden by the keys the run sets.
type Workload struct {
	Name        string
	Description string
	Runs        []Config
}

// workloadFile is the YAML shape of a workload file.
type workloadFile struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Base        yaml.Node   `yaml:"base"`
	Runs        []yaml.Node `yaml:"runs"`
}

// ParseWorkload decodes a workload file. Unknown keys are errors so that a
// typo does not silently run the default.
func ParseWorkload(src []byte) (*Workload, error) {
	var f workloadFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	var base Config
	if f.Base.Kind != 0 {
		if err := decodeStrict(&f.Base, &base); err != nil {
			return nil, fmt.Errorf("workload %s: base: %w", f.Name, err)
		}
	}
	w := &Workload{Name: f.Name, Description: f.Description}
	if len(f.Runs) == 0 {
		w.Runs = []Config{base}
		return w, nil
	}
	for i := range f.Runs {
		c := base
		c.Brokers = append([]string(nil), base.Brokers...)
		if err := decodeStrict(&f.Runs[i], &c); err != nil {
			return nil, fmt.Errorf("workload %s: run %d: %w", f.Name, i, err)
		}
		w.Runs = append(w.Runs, c)
	}
	return w, nil
}

// decodeStrict decodes n over dst, rejecting unknown keys.
func decodeStrict(n *yaml.Node, dst *Config) error {
	// yaml.Node.Decode has no KnownFields; re-encode and decode strictly.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(dst)
}

// keySpace interprets Keys: 0 = no key, -1 = random keys, N = N distinct keys.
func (c *Config) keySpace() (int, error) {
	switch c.Keys {
	case "", "none":
		return 0, nil
	case "random":
		return -1, nil
	}
	n, err := strconv.Atoi(c.Keys)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("keys %q: want none, random or a positive number", c.Keys)
	}
	return n, nil
}

// Validate fills defaults and rejects impossible combinations.
func (c *Config) Validate() error {
	if c.Mode == "" {
		c.Mode = ModeProduce
	}
	switch c.Mode {
	case ModeProduce, ModeConsume, ModeE2E:
	default:
		return fmt.Errorf("mode %q: want produce, consume or e2e", c.Mode)
	}
	if c.Name == "" {
		c.Name = c.Mode
	}
	if len(c.Brokers) == 0 {
		return errors.New("no brokers")
	}
	if c.Topic == "" {
		c.Topic = "kavka-bench"
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.RecordSize == 0 {
		c.RecordSize = 1024
	}
	if c.RecordSize < 0 || c.RecordSize > payloadBytes {
		return fmt.Errorf("record size %d: want 1..%d", c.RecordSize, payloadBytes)
	}
	if _, err := c.keySpace(); err != nil {
		return err
	}
	c.Acks = strings.ToLower(c.Acks)
	switch c.Acks {
	case "":
		c.Acks = "all"
	case "all", "-1", "1", "0":
	default:
		return fmt.Errorf("acks %q: want all, 1 or 0", c.Acks)
	}
	if c.Acks == "-1" {
		c.Acks = "all"
	}
	if c.Idempotent && c.Acks != "all" {
		return errors.New("idempotent requires acks=all")
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.Producers <= 0 {
		c.Producers = 1
	}
	if c.Consumers <= 0 {
		c.Consumers = 1
	}
	if c.Rate < 0 || c.Count < 0 || c.Duration < 0 || c.PrefillBytes < 0 || c.IdleConnections < 0 {
		return errors.New("rate, count, duration, prefill and idle connections must not be negative")
	}
	if c.PeakFraction < 0 || c.PeakFraction > 1 {
		return fmt.Errorf("peak fraction %v: want 0..1", c.PeakFraction)
	}
	if c.CalibrateFor == 0 {
		c.CalibrateFor = 5 * time.Second
	}
	if c.Duration == 0 && c.Count == 0 && c.Mode != ModeConsume {
		c.Duration = 10 * time.Second
	}
	if c.RawFetch && c.Mode != ModeConsume {
		return errors.New("raw fetch is a consume option")
	}
	return nil
}
