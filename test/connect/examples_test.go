package connect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kavka-io/kavka/connect/connectors"
	"github.com/kavka-io/kavka/connect/runtime"
)

// TestExamplesValid: the worker properties and connector configs under
// examples/connect-distributed parse and validate without errors.
func TestExamplesValid(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "connect-distributed")
	f, err := os.Open(filepath.Join(dir, "worker.properties"))
	if err != nil {
		t.Fatal(err)
	}
	props, err := runtime.ParseProperties(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	wcfg, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		t.Fatal(err)
	}
	d, err := runtime.NewDistributed(wcfg, connectors.Plugins(), nil)
	if err != nil {
		t.Fatalf("worker.properties: %v", err)
	}
	defer d.Close() // never run: validating needs no broker
	matches, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(matches) == 0 {
		t.Fatal("no connector examples")
	}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Name   string            `json:"name"`
			Config map[string]string `json:"config"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		body.Config["name"] = body.Name
		vi, err := d.Validate(context.Background(), body.Config)
		if err != nil || vi.ErrorCount != 0 {
			var errs []string
			for _, c := range vi.Configs {
				errs = append(errs, c.Value.Errors...)
			}
			t.Errorf("%s: validate: %v %v", m, err, errs)
		}
	}
}
