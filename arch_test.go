package kavka_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/kavka-io/kavka/"

// allowedInternal lists, for the low layers, the only Kavka packages each may
// import (shared/DESIGN.md: dependencies point one way; commitlog, record,
// vfs and wire never import upward). Packages not listed are unconstrained
// here.
var allowedInternal = map[string][]string{
	"internal/vfs":       {},
	"internal/clock":     {},
	"internal/record":    {},
	"internal/wire":      {},
	"internal/commitlog": {"internal/record", "internal/vfs", "internal/clock"},
	"internal/config":    {"properties"},
	"properties":         {},
	"internal/httpapi":   {},
	"internal/metadata":  {"internal/config", "internal/vfs", "internal/clock"},
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		allowed, constrained := allowedInternal[pkg]
		public := strings.HasPrefix(pkg, "streams") || strings.HasPrefix(pkg, "connect")
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if public && strings.HasPrefix(dep, "internal/") {
				t.Errorf("%s is public and must not import %s", pkg, dep)
			}
			if constrained && !contains(allowed, dep) {
				t.Errorf("%s must not import %s (allowed: %v)", pkg, dep, allowed)
			}
		}
	}
}

// fileCalls are the os functions that touch files; outside internal/vfs they
// bypass the crash and fault seams (STYLE C9).
var fileCalls = regexp.MustCompile(`\bos\.(Open|OpenFile|Create|Remove|RemoveAll|Rename|Mkdir|MkdirAll|ReadFile|WriteFile|Truncate|ReadDir)\(`)

func TestNoFileIOOutsideVFS(t *testing.T) {
	err := filepath.WalkDir("internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.HasPrefix(path, filepath.Join("internal", "vfs")) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if fileCalls.MatchString(line) {
				t.Errorf("%s:%d: file I/O outside internal/vfs: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
