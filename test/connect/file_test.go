package connect

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileRoundTrip writes a file through FileStreamSource → topic →
// FileStreamSink and compares the bytes; then appends to the source file,
// restarts the worker and checks that the source resumed from its stored
// offset (nothing duplicated, nothing lost).
func TestFileRoundTrip(t *testing.T) {
	broker := startBroker(t)
	_, adm := client(t, broker)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	offsets := filepath.Join(dir, "offsets.json")

	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&want, "line %d %s\n", i, strings.Repeat("x", rng.IntN(200)))
	}
	if err := os.WriteFile(in, want.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file round trip needs one partition to keep line order.
	createTopic(t, adm, "lines-ordered", 1)
	run := func() *standalone {
		w := startStandalone(t, broker, map[string]string{"offset.storage.file.filename": offsets})
		ctx := context.Background()
		if _, _, err := w.PutConfig(ctx, "src", map[string]string{"connector.class": "FileStreamSource",
			"file": in, "topic": "lines-ordered", "batch.size": "500"}, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.PutConfig(ctx, "sink", map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
			"file": out, "topics": "lines-ordered"}, false); err != nil {
			t.Fatal(err)
		}
		return w
	}
	waitFile := func(want []byte) {
		eventually(t, "sink file equals source file", func() error {
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, want) {
				return fmt.Errorf("sink file has %d bytes, want %d", len(got), len(want))
			}
			return nil
		})
	}
	w := run()
	waitFile(want.Bytes())
	w.stop()

	// Append while stopped; the restarted source resumes at its offset.
	f, err := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		fmt.Fprintf(f, "more %d\n", i)
		fmt.Fprintf(&want, "more %d\n", i)
	}
	f.Close()
	run()
	waitFile(want.Bytes())
}
