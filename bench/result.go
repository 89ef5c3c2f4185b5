package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Result is the outcome of one run. Throughput uses MB = 10^6 bytes of
// record keys and values (raw fetch: record-batch bytes as received).
type Result struct {
	Config        Config             `json:"config"`
	Seconds       float64            `json:"seconds"`
	Records       int64              `json:"records"`
	Bytes         int64              `json:"bytes"`
	Errors        int64              `json:"errors"`
	FirstError    string             `json:"first_error,omitempty"`
	RecordsPerSec float64            `json:"records_per_sec"`
	MBPerSec      float64            `json:"mb_per_sec"`
	Latency       *Latency           `json:"latency_ms,omitempty"`
	LatencyKind   string             `json:"latency_kind,omitempty"` // ack, e2e or fetch
	Extra         map[string]float64 `json:"extra,omitempty"`
	Timeline      []Point            `json:"timeline,omitempty"`
}

// Latency is an HDR-histogram summary in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// Point is one second of a run: throughput and latency quantiles (ms) of the
// records completed in that second.
type Point struct {
	T             float64 `json:"t"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	P50           float64 `json:"p50"`
	P99           float64 `json:"p99"`
	Max           float64 `json:"max"`
}

// WriteText writes a human summary.
func (r *Result) WriteText(w io.Writer) error {
	c := &r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s topic=%s partitions=%d", c.Name, c.Mode, c.Topic, c.Partitions)
	if c.Mode != ModeConsume || c.PrefillBytes > 0 {
		fmt.Fprintf(&b, " record-size=%d acks=%s compression=%s producers=%d", c.RecordSize, c.Acks, c.Compression, c.Producers)
	}
	if c.Mode != ModeProduce {
		fmt.Fprintf(&b, " consumers=%d", c.Consumers)
	}
	if c.RawFetch {
		b.WriteString(" raw-fetch")
	}
	if c.Rate > 0 {
		fmt.Fprintf(&b, " rate=%.0f/s", c.Rate)
	}
	fmt.Fprintf(&b, "\n  %d records, %.1f MB in %.2fs: %.0f records/s, %.2f MB/s, %d errors\n",
		r.Records, float64(r.Bytes)/1e6, r.Seconds, r.RecordsPerSec, r.MBPerSec, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(&b, "  first error: %s\n", r.FirstError)
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "  %s latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, n=%d)\n",
			r.LatencyKind, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
	}
	if len(r.Extra) > 0 {
		keys := make([]string, 0, len(r.Extra))
		for k := range r.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" ")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%.6g", k, r.Extra[k])
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes results as one indented JSON array.
func WriteJSON(w io.Writer, rs []*Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}
