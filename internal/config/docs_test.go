package config

import (
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

var update = flag.Bool("update", false, "rewrite docs/configs.md")

// TestDocsInSync keeps docs/configs.md equal to Markdown().
func TestDocsInSync(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configs.md")
	want := Markdown()
	if *update {
		f, err := vfs.Default.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, want); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := vfs.Default.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -run TestDocsInSync -update)", err)
	}
	defer f.Close()
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/configs.md is stale; run go test ./internal/config -run TestDocsInSync -update")
	}
}
