package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kavka-io/kavka/test/harness"
)

// docBlocks returns the code blocks of docs/cluster.md that follow a
// "<!-- cluster-test:KIND -->" marker.
func docBlocks(t *testing.T, kind string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	rest := string(b)
	marker := "<!-- cluster-test:" + kind + " -->"
	for {
		i := strings.Index(rest, marker)
		if i < 0 {
			return out
		}
		rest = rest[i+len(marker):]
		start := strings.Index(rest, "```sh\n")
		end := strings.Index(rest[start+6:], "\n```")
		if start < 0 || end < 0 {
			t.Fatalf("docs/cluster.md: no code block after %s", marker)
		}
		out = append(out, rest[start+6:start+6+end+1])
		rest = rest[start+6+end:]
	}
}

// TestDocsCluster runs docs/cluster.md: its config block (with the kavka
// built by the harness instead of `go build`), three `kavka serve` processes
// started from those configs in the same directory, then every "run" block
// with bash, as a reader would paste them.
func TestDocsCluster(t *testing.T) {
	for i := 1; i <= 3; i++ {
		for _, port := range []string{"9092", "9093"} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1%d:%s", i, port))
			if err != nil {
				t.Skipf("the documented addresses are not free here: %v", err)
			}
			l.Close()
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := harness.Binary(t)
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "kavka")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sh := func(script string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n-> %v\n%s", script, err, out)
		}
		return string(out)
	}

	configs := docBlocks(t, "configs")
	if len(configs) != 1 || !strings.HasPrefix(configs[0], "go build -o kavka ./cmd/kavka\n") {
		t.Fatalf("config block: %q", configs)
	}
	sh(strings.TrimPrefix(configs[0], "go build -o kavka ./cmd/kavka\n"))

	start := docBlocks(t, "start")
	const wantStart = "for i in 1 2 3; do ./kavka serve --config node$i.properties > node$i.log 2>&1 & done\n"
	if len(start) != 1 || start[0] != wantStart {
		t.Fatalf("start block %q, want %q (the test starts the processes itself)", start, wantStart)
	}
	var logs [3]*harness.TailBuffer
	for i := range 3 {
		logs[i] = newLog()
		cmd := exec.Command("./kavka", "serve", "--config", fmt.Sprintf("node%d.properties", i+1))
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logs[i], logs[i]
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("node %d log:\n%s", i+1, logs[i].Tail(32<<10))
			}
		})
	}

	runs := docBlocks(t, "run")
	if len(runs) != 2 {
		t.Fatalf("%d run blocks, want 2", len(runs))
	}
	env := "export KAVKA_BROKERS=127.0.0.11:9092,127.0.0.12:9092,127.0.0.13:9092\n"
	out := sh(runs[0])
	t.Logf("block 3:\n%s", out)
	for _, want := range []string{"Active controller:", "3 live, 0 fenced", "LeaderId:"} {
		if !strings.Contains(out, want) {
			t.Errorf("block 3 output lacks %q", want)
		}
	}
	out = sh(env + runs[1])
	t.Logf("block 4:\n%s", out)
	for _, want := range []string{"Save this to use as the --plan during rollback", "Reassignment of partition orders-0 is complete.", "1000\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("block 4 output lacks %q", want)
		}
	}
	// The reassignment took effect: orders-0 is on 3 and 1 only, and a
	// broker that lost its replica removed the log directory.
	st := sh(env + "./kavka topic describe orders")
	t.Logf("%s", st)
	for i := 1; i <= 3; i++ {
		_, err := os.Stat(filepath.Join(dir, "data", fmt.Sprintf("node%d", i), "orders-0"))
		want := i == 1 || i == 3
		if got := err == nil; got != want {
			t.Errorf("node %d has orders-0: %v, want %v", i, got, want)
		}
	}
	if !bytes.Contains([]byte(st), []byte("orders")) {
		t.Errorf("topic describe: %s", st)
	}
}
