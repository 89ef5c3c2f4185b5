package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kavka-io/kavka/bench"
	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// tiny shrinks a reference run so that every workload runs in about a
// second: the point is that the tool and the workload files never rot, not
// the numbers.
func tiny(c *bench.Config) {
	c.Duration = 300 * time.Millisecond
	c.Count = 0
	c.CalibrateFor = 300 * time.Millisecond
	c.Partitions = min(c.Partitions, 8)
	if c.PrefillBytes > 0 {
		c.PrefillBytes = 200 << 10
		c.Duration = 0 // consume: until the end offsets
	}
	if c.IdleConnections > 0 {
		c.IdleConnections = 20
	}
}

// TestWorkloadsSmoke runs every reference workload, shrunk, against a real
// broker (`kavka serve` through test/harness).
func TestWorkloadsSmoke(t *testing.T) {
	files, err := filepath.Glob("workloads/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("workload files: %v, %v; want the six of issue 5", files, err)
	}
	b := harness.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := bench.ParseWorkload(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range w.Runs {
			tiny(&c)
			c.Brokers = []string{b.Addr}
			res, err := bench.Run(ctx, c, nil)
			if err != nil {
				t.Errorf("%s %s: %v", f, c.Name, err)
				continue
			}
			if res.Records == 0 || res.Errors != 0 {
				t.Errorf("%s %s: %d records, %d errors (first: %s), want some and none",
					f, c.Name, res.Records, res.Errors, res.FirstError)
			}
			if c.Mode != bench.ModeConsume && res.Latency == nil {
				t.Errorf("%s %s: no latency recorded", f, c.Name)
			}
		}
	}
}

// TestBenchCLISmoke runs the command line once, with JSON output and a plot.
func TestBenchCLISmoke(t *testing.T) {
	b := harness.Start(t)
	plot := filepath.Join(t.TempDir(), "e2e.svg")
	out, stderr, err := b.CLI("", "bench", "e2e", "--topic", "cli", "--rate", "2000", "--duration", "1500ms",
		"--record-size", "100", "--json", "--plot", plot)
	if err != nil {
		t.Fatalf("kavka bench e2e: %v\n%s", err, stderr)
	}
	var rs []bench.Result
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, out)
	}
	if len(rs) != 1 || rs[0].Records == 0 || rs[0].Latency == nil || rs[0].LatencyKind != "e2e" {
		t.Errorf("results = %+v, want one e2e run with records and latency", rs)
	}
	if fi, err := os.Stat(plot); err != nil || fi.Size() < 200 {
		t.Errorf("plot %s: %v", plot, err)
	}
}
