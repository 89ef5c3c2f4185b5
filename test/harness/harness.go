// Package harness runs the kavka binary as a separate process for
// process-level tests: it builds the binary once per test binary, starts
// `kavka serve` on a free port with its own data directory, waits (bounded)
// until the broker answers ApiVersions, and stops it with SIGTERM or SIGKILL
// so tests can restart it on the same data directory. The broker's stderr is
// written to the test log when a test fails.
//
// It talks to the broker only through the network (franz-go) and the binary,
// never through internal/ packages. Set KAVKA_TEST_BINARY to use a kavka
// binary built elsewhere instead of building ./cmd/kavka, and
// KAVKA_TEST_SERVE_BINARY to run another server that takes the same serve
// flags (`serve --data-dir DIR --listen ADDR`) as the broker.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	buildTimeout = 5 * time.Minute
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	cliTimeout   = 60 * time.Second
	logTailBytes = 256 << 10 // how much broker stderr is kept for the test log
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Main runs the tests of a package that uses the harness and then removes
// the built binary. Call it from TestMain: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleRoot is the directory holding the main go.mod, two levels above this file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("harness: cannot locate source file")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("harness: module root: %w", err)
	}
	return root, nil
}

// Binary returns the path of the kavka binary, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("KAVKA_TEST_BINARY"); p != "" {
			buildPath = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "kavka-harness-")
		if err != nil {
			buildErr = fmt.Errorf("harness: temp dir: %w", err)
			return
		}
		buildPath = filepath.Join(buildDir, "kavka")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./cmd/kavka")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("harness: go build ./cmd/kavka: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Option changes how Start runs the broker.
type Option func(*Broker)

// WithDataDir uses dir as the data directory instead of a fresh temp dir.
func WithDataDir(dir string) Option { return func(b *Broker) { b.DataDir = dir } }

// WithArgs adds arguments to `kavka serve`, e.g. "--set", "num.partitions=3".
func WithArgs(args ...string) Option {
	return func(b *Broker) { b.extraArgs = append(b.extraArgs, args...) }
}

// Broker is one `kavka serve` process, restartable on the same data
// directory and address. Its methods must be called from the test goroutine.
type Broker struct {
	DataDir string // the --data-dir, kept across restarts
	Addr    string // the --listen address, kept across restarts

	t         testing.TB
	bin       string
	extraArgs []string
	log       *TailBuffer // stderr and stdout of every incarnation

	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returned
	waitErr error         // set before exited is closed
	starts  int
}

// Start builds (once) and starts a broker, waits until it serves, and stops
// it when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	bin := os.Getenv("KAVKA_TEST_SERVE_BINARY")
	if bin == "" {
		bin = Binary(t)
	}
	b := &Broker{t: t, bin: bin, log: NewTailBuffer(logTailBytes, logTailBytes)}
	for _, o := range opts {
		o(b)
	}
	if b.DataDir == "" {
		b.DataDir = t.TempDir()
	}
	b.Addr = FreeAddr(t)
	t.Cleanup(func() {
		if b.running() {
			b.signal(syscall.SIGKILL)
			b.wait(stopTimeout)
		}
		if t.Failed() {
			t.Logf("broker %s log (last %d bytes):\n%s", b.Addr, logTailBytes, b.log.String())
		}
	})
	b.Restart()
	return b
}

// Restart starts the broker process again with the same data directory and
// address. The broker must be stopped.
func (b *Broker) Restart() {
	b.t.Helper()
	if b.running() {
		b.t.Fatal("harness: Restart of a running broker")
	}
	b.starts++
	fmt.Fprintf(b.log, "--- harness: start #%d: serve --data-dir %s --listen %s %s\n",
		b.starts, b.DataDir, b.Addr, strings.Join(b.extraArgs, " "))
	args := append([]string{"serve", "--data-dir", b.DataDir, "--listen", b.Addr}, b.extraArgs...)
	cmd := exec.Command(b.bin, args...)
	cmd.Stdout = b.log
	cmd.Stderr = b.log
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("harness: start broker: %v", err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	b.waitErr = nil
	go func(exited chan struct{}) {
		err := cmd.Wait()
		b.waitErr = err // published by close(exited)
		close(exited)
	}(b.exited)
	if err := b.waitReady(readyTimeout); err != nil {
		b.signal(syscall.SIGKILL)
		b.wait(stopTimeout)
		b.t.Fatalf("harness: broker at %s not ready: %v\nlog:\n%s", b.Addr, err, b.log.String())
	}
}

// waitReady waits until the broker accepts a TCP connection and answers
// ApiVersions, the process exits, or timeout passes.
func (b *Broker) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			return fmt.Errorf("process exited: %v", b.waitErr)
		default:
		}
		conn, err := net.DialTimeout("tcp", b.Addr, 500*time.Millisecond)
		if err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		conn.Close()
		if lastErr = b.ping(2 * time.Second); lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v: %v", timeout, lastErr)
}

// ping sends ApiVersions through a fresh franz-go client.
func (b *Broker) ping(timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return cl.Ping(ctx)
}

func (b *Broker) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

func (b *Broker) signal(sig os.Signal) {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(sig)
	}
}

// wait waits up to timeout for the process to exit and reports whether it did.
func (b *Broker) wait(timeout time.Duration) bool {
	select {
	case <-b.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends SIGTERM and waits for a graceful exit. It returns the process's
// exit error (nil for exit status 0); if the broker does not exit within
// stopTimeout it is killed and Stop fails the test.
func (b *Broker) Stop() error {
	b.t.Helper()
	if !b.running() {
		return b.waitErr
	}
	fmt.Fprintf(b.log, "--- harness: SIGTERM\n")
	b.signal(syscall.SIGTERM)
	if !b.wait(stopTimeout) {
		b.signal(syscall.SIGKILL)
		b.wait(stopTimeout)
		b.t.Fatalf("harness: broker did not exit within %v of SIGTERM", stopTimeout)
	}
	return b.waitErr
}

// Kill sends SIGKILL and waits for the process to be gone.
func (b *Broker) Kill() {
	b.t.Helper()
	if !b.running() {
		return
	}
	fmt.Fprintf(b.log, "--- harness: SIGKILL\n")
	b.signal(syscall.SIGKILL)
	if !b.wait(stopTimeout) {
		b.t.Fatalf("harness: broker did not die within %v of SIGKILL", stopTimeout)
	}
}

// Log returns what the broker wrote to stdout and stderr so far (the tail).
func (b *Broker) Log() string { return b.log.String() }

// Client returns a franz-go client seeded with the broker, closed when the
// test ends.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		b.t.Fatalf("harness: client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

// CLI runs the kavka binary with args and --brokers pointing at this broker,
// feeding stdin, bounded by cliTimeout. It returns stdout, stderr and the
// exit error.
func (b *Broker) CLI(stdin string, args ...string) (stdout, stderr string, err error) {
	b.t.Helper()
	return RunCLI(b.t, b.Addr, stdin, args...)
}

// RunCLI runs the kavka binary against brokers (see Broker.CLI).
func RunCLI(t testing.TB, brokers, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(), "KAVKA_BROKERS="+brokers)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kavka %s: timed out after %v: %w", strings.Join(args, " "), cliTimeout, err)
	}
	return out.String(), errOut.String(), err
}

// TailBuffer is a concurrency-safe writer that keeps the end of a process's
// output: once it holds more than max bytes, it keeps only the last keep.
type TailBuffer struct {
	max, keep int
	mu        sync.Mutex
	buf       []byte // guarded by mu
}

// NewTailBuffer returns a TailBuffer that trims to the last keep bytes once
// it holds more than max (keep ≤ max; a smaller keep trims less often).
func NewTailBuffer(maxBytes, keepBytes int) *TailBuffer {
	if keepBytes > maxBytes {
		panic(fmt.Sprintf("BUG: tail buffer keeps %d bytes of at most %d", keepBytes, maxBytes))
	}
	return &TailBuffer{max: maxBytes, keep: keepBytes}
}

func (w *TailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-w.keep:]...)
	}
	return len(p), nil
}

// Tail returns the last n bytes written (all of them if fewer were kept).
func (w *TailBuffer) Tail(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf[max(len(w.buf)-n, 0):])
}

// String returns all that is kept.
func (w *TailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
