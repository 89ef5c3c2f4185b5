package connect

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// call sends one request as the Kafka Connect docs show it (curl -X METHOD
// -H "Content-Type: application/json" --data BODY URL) and returns the
// status and decoded body.
func call(t *testing.T, method, url, body string) (int, any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode, v
}

func TestRESTAPI(t *testing.T) {
	broker := startBroker(t)
	_, adm := client(t, broker)
	createTopic(t, adm, "connect-test", 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "test.txt")
	if err := os.WriteFile(in, []byte("foo\nbar\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startStandalone(t, broker, map[string]string{"offset.storage.file.filename": filepath.Join(dir, "off")})
	u := w.url
	expect := func(method, path, body string, wantCode int, check func(any)) {
		t.Helper()
		code, v := call(t, method, u+path, body)
		if code != wantCode {
			t.Fatalf("%s %s = %d %v, want %d", method, path, code, v, wantCode)
		}
		if check != nil {
			check(v)
		}
	}
	field := func(v any, path ...string) any {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	want := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	expect("GET", "/", "", 200, func(v any) {
		if field(v, "version") == nil {
			t.Errorf("GET / = %v", v)
		}
	})
	expect("GET", "/connectors", "", 200, func(v any) { want("connectors", v, []any{}) })
	expect("POST", "/connectors", fmt.Sprintf(`{"name": "local-file-source", "config": {"connector.class": "FileStreamSource",
		"tasks.max": "1", "file": %q, "topic": "connect-test"}}`, in), 201, func(v any) {
		want("name", field(v, "name"), "local-file-source")
		want("type", field(v, "type"), "source")
		want("file", field(v, "config", "file"), in)
	})
	expect("POST", "/connectors", `{"name": "local-file-source", "config": {"connector.class": "FileStreamSource", "topic": "x"}}`, 409, nil)
	expect("POST", "/connectors", `{"name": "bad", "config": {"connector.class": "FileStreamSource"}}`, 400, func(v any) {
		if !strings.Contains(fmt.Sprint(field(v, "message")), "topic") {
			t.Errorf("400 message = %v", v)
		}
	})
	expect("GET", "/connectors", "", 200, func(v any) { want("connectors", v, []any{"local-file-source"}) })
	expect("GET", "/connectors/local-file-source/config", "", 200, func(v any) { want("topic", field(v, "topic"), "connect-test") })
	eventually(t, "connector and task running", func() error {
		_, v := call(t, "GET", u+"/connectors/local-file-source/status", "")
		tasks, _ := field(v, "tasks").([]any)
		if field(v, "connector", "state") != "RUNNING" || len(tasks) != 1 || field(tasks[0], "state") != "RUNNING" {
			return fmt.Errorf("status %v", v)
		}
		return nil
	})
	expect("GET", "/connectors?expand=status&expand=info", "", 200, func(v any) {
		want("expanded state", field(v, "local-file-source", "status", "connector", "state"), "RUNNING")
		want("expanded type", field(v, "local-file-source", "info", "type"), "source")
	})
	expect("GET", "/connectors/local-file-source/tasks", "", 200, func(v any) {
		ts := v.([]any)
		want("task id", field(ts[0], "id", "task"), 0)
		want("task file", field(ts[0], "config", "file"), in)
	})
	expect("GET", "/connectors/local-file-source/tasks/0/status", "", 200, func(v any) { want("task state", field(v, "state"), "RUNNING") })
	expect("GET", "/connectors/local-file-source/topics", "", 200, func(v any) {
		want("topics", field(v, "local-file-source", "topics"), []any{"connect-test"})
	})

	// Offsets (KIP-875): visible once flushed; altering needs STOPPED.
	eventually(t, "source offsets", func() error {
		_, v := call(t, "GET", u+"/connectors/local-file-source/offsets", "")
		offs, _ := field(v, "offsets").([]any)
		if len(offs) != 1 || fmt.Sprint(field(offs[0], "offset", "position")) != "8" {
			return fmt.Errorf("offsets %v", v)
		}
		want("partition", field(offs[0], "partition", "filename"), in)
		return nil
	})
	patch := fmt.Sprintf(`{"offsets": [{"partition": {"filename": %q}, "offset": {"position": 4}}]}`, in)
	expect("PATCH", "/connectors/local-file-source/offsets", patch, 400, nil)
	expect("PUT", "/connectors/local-file-source/pause", "", 202, nil)
	eventually(t, "paused", func() error {
		_, v := call(t, "GET", u+"/connectors/local-file-source/status", "")
		tasks, _ := field(v, "tasks").([]any)
		if field(v, "connector", "state") != "PAUSED" || len(tasks) != 1 || field(tasks[0], "state") != "PAUSED" {
			return fmt.Errorf("status %v", v)
		}
		return nil
	})
	expect("PUT", "/connectors/local-file-source/resume", "", 202, nil)
	expect("PUT", "/connectors/local-file-source/stop", "", 202, nil)
	eventually(t, "stopped", func() error {
		_, v := call(t, "GET", u+"/connectors/local-file-source/status", "")
		if field(v, "connector", "state") != "STOPPED" {
			return fmt.Errorf("status %v", v)
		}
		return nil
	})
	expect("PATCH", "/connectors/local-file-source/offsets", patch, 200, func(v any) {
		want("message", field(v, "message"), "The offsets for this connector have been altered successfully")
	})
	expect("GET", "/connectors/local-file-source/offsets", "", 200, func(v any) {
		want("position", field(field(v, "offsets").([]any)[0], "offset", "position"), 4)
	})
	expect("DELETE", "/connectors/local-file-source/offsets", "", 200, func(v any) {
		want("message", field(v, "message"), "The offsets for this connector have been reset successfully")
	})
	expect("GET", "/connectors/local-file-source/offsets", "", 200, func(v any) { want("offsets", field(v, "offsets"), []any{}) })
	expect("PUT", "/connectors/local-file-source/resume", "", 202, nil)

	// Restart: 204 without parameters, 202 with the status (KIP-745).
	expect("POST", "/connectors/local-file-source/restart", "", 204, nil)
	expect("POST", "/connectors/local-file-source/restart?includeTasks=true&onlyFailed=false", "", 202, func(v any) {
		want("connector", field(v, "connector", "state"), "RESTARTING")
	})
	expect("POST", "/connectors/local-file-source/tasks/0/restart", "", 204, nil)

	// PUT config updates (200) or creates (201).
	expect("PUT", "/connectors/local-file-source/config", fmt.Sprintf(`{"connector.class": "FileStreamSource", "file": %q, "topic": "connect-test", "batch.size": "10"}`, in), 200, nil)
	expect("PUT", "/connectors/local-file-sink/config", fmt.Sprintf(`{"connector.class": "FileStreamSink", "file": %q, "topics": "connect-test"}`, filepath.Join(dir, "out")), 201, func(v any) {
		want("type", field(v, "type"), "sink")
	})

	expect("GET", "/connector-plugins", "", 200, func(v any) {
		s := fmt.Sprint(v)
		if !strings.Contains(s, "org.apache.kafka.connect.file.FileStreamSinkConnector") || strings.Contains(s, "RegexRouter") {
			t.Errorf("plugins = %v", v)
		}
	})
	expect("GET", "/connector-plugins?connectorsOnly=false", "", 200, func(v any) {
		if !strings.Contains(fmt.Sprint(v), "org.apache.kafka.connect.transforms.RegexRouter") {
			t.Errorf("plugins = %v", v)
		}
	})
	expect("GET", "/connector-plugins/FileStreamSource/config", "", 200, func(v any) {
		if !strings.Contains(fmt.Sprint(v), "batch.size") {
			t.Errorf("plugin config = %v", v)
		}
	})
	// The validate request from the Kafka docs: a sink config without topics.
	expect("PUT", "/connector-plugins/FileStreamSinkConnector/config/validate", `{"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "tasks.max": "1", "topics": "test-topic"}`, 200, func(v any) {
		want("error_count", field(v, "error_count"), 1) // "name" is missing
	})
	expect("PUT", "/connector-plugins/FileStreamSinkConnector/config/validate", `{"name": "x", "tasks.max": "0"}`, 200, func(v any) {
		want("error_count", field(v, "error_count"), 2) // tasks.max < 1, no topics
	})

	expect("DELETE", "/connectors/local-file-sink", "", 204, nil)
	expect("GET", "/connectors/local-file-sink", "", 404, func(v any) {
		want("error_code", field(v, "error_code"), 404)
	})
	expect("GET", "/connectors/nope/status", "", 404, nil)
}
