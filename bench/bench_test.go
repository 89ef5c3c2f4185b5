package bench

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseWorkloadOverlaysRuns(t *testing.T) {
	src := `
name: w
description: two runs
base:
  mode: produce
  record_size: 100
  acks: all
  duration: 15s
runs:
  - name: p1
    partitions: 1
  - name: p8
    partitions: 8
    compression: lz4
`
	w, err := ParseWorkload([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Config{
		{Name: "p1", Mode: "produce", RecordSize: 100, Acks: "all", Duration: 15 * time.Second, Partitions: 1},
		{Name: "p8", Mode: "produce", RecordSize: 100, Acks: "all", Duration: 15 * time.Second, Partitions: 8, Compression: "lz4"},
	}
	if diff := cmp.Diff(want, w.Runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestParseWorkloadRejects(t *testing.T) {
	f := func(src, wantErr string) {
		t.Helper()
		_, err := ParseWorkload([]byte(src))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseWorkload(%q) error = %v, want containing %q", src, err, wantErr)
		}
	}
	f("name: x\nbase:\n  record_sise: 10\n", "record_sise")
	f("name: x\nrunz: []\n", "runz")
	f("name: x\nbase:\n  duration: fast\n", "time.Duration")
}

func TestValidate(t *testing.T) {
	f := func(c Config, wantErr string) {
		t.Helper()
		c.Brokers = []string{"127.0.0.1:9092"}
		err := c.Validate()
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("Validate(%+v) = %v, want containing %q", c, err, wantErr)
		}
	}
	f(Config{}, "")
	f(Config{Mode: "fetch"}, "mode")
	f(Config{Keys: "12"}, "")
	f(Config{Keys: "-3"}, "keys")
	f(Config{Acks: "1", Idempotent: true}, "idempotent")
	f(Config{Compression: "brotli"}, "compression")
	f(Config{Mode: ModeProduce, RawFetch: true}, "raw fetch")
	f(Config{PeakFraction: 2}, "peak fraction")

	c := Config{Brokers: []string{"b"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Duration != 10*time.Second || c.RecordSize != 1024 || c.Acks != "all" || c.Topic != "kavka-bench" {
		t.Errorf("defaults = %+v", c)
	}
}

// batch builds a v2 record-batch header (no records) for scanBatches.
func batch(base int64, lastDelta, count int32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(size-12))
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint32(b[57:], uint32(count))
	return b
}

func TestScanBatches(t *testing.T) {
	f := func(src []byte, wantRecs, wantNext int64) {
		t.Helper()
		recs, next := scanBatches(src)
		if recs != wantRecs || next != wantNext {
			t.Errorf("scanBatches(%d bytes) = (%d, %d), want (%d, %d)", len(src), recs, next, wantRecs, wantNext)
		}
	}
	f(nil, 0, 0)
	f(batch(0, 9, 10, 100), 10, 10)
	two := append(batch(0, 9, 10, 100), batch(10, 4, 5, 80)...)
	f(two, 15, 15)
	f(two[:150], 10, 10) // a trailing partial batch is ignored
	f(two[:30], 0, 0)
}

func TestRecorderQuantiles(t *testing.T) {
	r := newRecorder()
	for i := 1; i <= 1000; i++ {
		r.add(1, 10, time.Duration(i)*time.Millisecond)
	}
	r.add(5, 50, -1) // counted, no latency
	l := r.latency()
	f := func(name string, got, want float64) {
		t.Helper()
		if got < want*0.99 || got > want*1.01 {
			t.Errorf("%s = %v ms, want %v ± 1%%", name, got, want)
		}
	}
	f("p50", l.P50, 500)
	f("p99", l.P99, 990)
	f("p99.9", l.P999, 999)
	f("max", l.Max, 1000)
	if n, b, _ := r.counts(); n != 1005 || b != 10050 {
		t.Errorf("counts = %d records, %d bytes, want 1005, 10050", n, b)
	}
	p := r.tick(time.Second, time.Second)
	if p.RecordsPerSec != 1005 || p.Max < 999 {
		t.Errorf("tick = %+v", p)
	}
	if p := r.tick(2*time.Second, time.Second); p.RecordsPerSec != 0 || p.Max != 0 {
		t.Errorf("second tick = %+v, want empty", p)
	}
}

func TestWriteSVG(t *testing.T) {
	r := &Result{
		Config: Config{Name: "x<y", Mode: ModeE2E}, Latency: &Latency{P99: 3}, LatencyKind: "e2e",
		Timeline: []Point{{T: 1, P50: 1, P99: 3, Max: 9, MBPerSec: 10}, {T: 2, P50: 2, P99: 4, Max: 5, MBPerSec: 12}},
	}
	var b bytes.Buffer
	if err := WriteSVG(&b, []*Result{r}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"<svg", "</svg>", "x&lt;y", "<polyline"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Count(s, "<polyline") != 4 {
		t.Errorf("SVG has %d lines, want 4 (p50, p99, max, MB/s)", strings.Count(s, "<polyline"))
	}
}
