package commitlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

const writerEnv = "KAVKA_COMMITLOG_WRITER_DIR"

// TestKillWriter runs a writer subprocess (this test binary re-executed)
// that appends batches and prints "<base offset> <last offset> <crc>" after
// each WaitDurable, SIGKILLs it at a random moment, and checks after each
// kill that every printed batch is in the log, byte-identical by CRC.
func TestKillWriter(t *testing.T) {
	if dir := os.Getenv(writerEnv); dir != "" {
		runWriter(dir)
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/kill-0"
	type acked struct {
		last int64
		crc  uint32
	}
	all := map[int64]acked{}
	for round := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^TestKillWriter$")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		target := 50 + round*40
		for n < target && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue
			}
			base, _ := strconv.ParseInt(f[0], 10, 64)
			last, _ := strconv.ParseInt(f[1], 10, 64)
			crc, _ := strconv.ParseUint(f[2], 10, 32)
			all[base] = acked{last, uint32(crc)}
			n++
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		// Lines printed before the kill are durable too.
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 {
				base, _ := strconv.ParseInt(f[0], 10, 64)
				last, _ := strconv.ParseInt(f[1], 10, 64)
				crc, _ := strconv.ParseUint(f[2], 10, 32)
				all[base] = acked{last, uint32(crc)}
			}
		}
		_ = cmd.Wait()
		cancel()
		if n == 0 {
			t.Fatalf("round %d: writer printed nothing", round)
		}
		l, err := Open(vfs.Default, dir, killConfig(), testOpts(nil))
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for base, a := range all {
			s, err := l.Read(base, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				t.Fatalf("round %d: acked batch %d: %v", round, base, err)
			}
			b, err := s.ReadAll(nil)
			s.Release()
			if err != nil || len(b) < record.HeaderSize {
				t.Fatalf("round %d: acked batch %d unreadable: %v", round, base, err)
			}
			h, _ := record.ParseHeader(b)
			if h.BaseOffset != base || h.LastOffset() != a.last || h.CRC != a.crc {
				t.Fatalf("round %d: batch at %d = %d..%d crc %x, want %d..%d crc %x", round, base, h.BaseOffset, h.LastOffset(), h.CRC, base, a.last, a.crc)
			}
		}
		l.Close()
	}
	t.Logf("%d acknowledged batches survived 4 SIGKILLs", len(all))
}

func killConfig() Config {
	return Config{SegmentBytes: 16 << 10, IndexIntervalBytes: 512, RetentionMs: -1}
}

// runWriter is the subprocess: append, wait durable, print, forever.
func runWriter(dir string) {
	l, err := Open(vfs.Default, dir, killConfig(), testOpts(nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := range 1_000_000 {
		b := valueBatch(int64(i), 1+i%5, 200, "kill")
		res, err := l.Append(b, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(3)
		}
		if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
			fmt.Fprintln(os.Stderr, "wait:", err)
			os.Exit(4)
		}
		h, _ := record.ParseHeader(b)
		fmt.Fprintf(w, "%d %d %d\n", res.FirstOffset, res.LastOffset, h.CRC)
		w.Flush()
	}
	os.Exit(0)
}
