package runtime

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProtocolRoundTrip(t *testing.T) {
	ws := workerState{URL: "http://10.0.0.1:8083", ConfigOffset: 42}
	got, err := decodeWorkerState(ws.appendTo(nil))
	if err != nil || got != ws {
		t.Errorf("workerState round trip = %+v, %v; want %+v", got, err, ws)
	}
	a := assignment{Error: assignNoError, Leader: "m-1", LeaderURL: "http://l:8083", ConfigOffset: 7,
		Connectors: []string{"a", "b"}, Tasks: []TaskID{{"a", 0}, {"a", 2}, {"c", 1}}}
	ga, err := decodeAssignment(a.appendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, ga); diff != "" {
		t.Errorf("assignment round trip (-want +got):\n%s", diff)
	}
	// Kafka's layout, byte for byte: version 0, error 0, leader "L", leader
	// URL "U", offset 1, one connector "c" with the connector itself and task 3.
	want := []byte{0, 0, 0, 0, 0, 1, 'L', 0, 1, 'U', 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 1, 0, 1, 'c', 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3}
	got2 := assignment{Leader: "L", LeaderURL: "U", ConfigOffset: 1, Connectors: []string{"c"}, Tasks: []TaskID{{"c", 3}}}.appendTo(nil)
	if diff := cmp.Diff(want, got2); diff != "" {
		t.Errorf("assignment bytes (-want +got):\n%s", diff)
	}
}

// TestProtocolDecodeTruncated: every prefix of a valid message and some
// hostile lengths fail cleanly instead of panicking or allocating.
func TestProtocolDecodeTruncated(t *testing.T) {
	full := assignment{Leader: "m", LeaderURL: "u", Connectors: []string{"x"}, Tasks: []TaskID{{"x", 0}}}.appendTo(nil)
	for i := range full {
		if _, err := decodeAssignment(full[:i]); err == nil {
			t.Errorf("decodeAssignment(%d of %d bytes) succeeded", i, len(full))
		}
	}
	huge := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}
	if _, err := decodeAssignment(huge); err == nil {
		t.Error("decodeAssignment with a 2^31 connector count succeeded")
	}
	if _, err := decodeWorkerState([]byte{0xff, 0xff}); err == nil {
		t.Error("decodeWorkerState with a negative version succeeded")
	}
}

func FuzzDecodeAssignment(f *testing.F) {
	f.Add(assignment{Leader: "m", LeaderURL: "u", ConfigOffset: 3, Connectors: []string{"x"}, Tasks: []TaskID{{"x", 0}}}.appendTo(nil))
	f.Add(workerState{URL: "http://h:1", ConfigOffset: 9}.appendTo(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeAssignment(b); err == nil {
			// What decodes re-encodes to something that decodes the same.
			a2, err := decodeAssignment(a.appendTo(nil))
			if err != nil || len(a2.Connectors) != len(a.Connectors) || len(a2.Tasks) != len(a.Tasks) {
				t.Fatalf("re-decode: %v %+v %+v", err, a, a2)
			}
		}
		_, _ = decodeWorkerState(b)
	})
}

func TestAssignEager(t *testing.T) {
	f := func(members []string, tasks map[string]int, want map[string]string) {
		t.Helper()
		got := map[string]string{}
		for m, a := range assignEager(members, tasks) {
			var parts []string
			parts = append(parts, a.Connectors...)
			for _, id := range a.Tasks {
				parts = append(parts, id.String())
			}
			got[m] = strings.Join(parts, " ")
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("assignEager(%v, %v) (-want +got):\n%s", members, tasks, diff)
		}
	}
	f(nil, map[string]int{"a": 1}, map[string]string{})
	f([]string{"w1"}, map[string]int{"a": 2}, map[string]string{"w1": "a a-0 a-1"})
	// Members are sorted; connectors first, then tasks, round robin.
	f([]string{"w2", "w1", "w3"}, map[string]int{"src": 1, "sink": 2},
		map[string]string{"w1": "sink sink-1", "w2": "src src-0", "w3": "sink-0"})
	f([]string{"a", "b"}, map[string]int{"x": 0, "y": 3},
		map[string]string{"a": "x y-0 y-2", "b": "y y-1"})
	f([]string{"a", "b"}, map[string]int{}, map[string]string{"a": "", "b": ""})
}

func TestParseDistConfig(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"group.id": "g", "config.storage.topic": "c", "offset.storage.topic": "o", "status.storage.topic": "s"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := parseDistConfig(base())
	if err != nil {
		t.Fatal(err)
	}
	want := distConfig{GroupID: "g", ConfigTopic: "c", OffsetTopic: "o", StatusTopic: "s", ConfigRF: 3, OffsetRF: 3, StatusRF: 3,
		OffsetPartitions: 25, StatusPartitions: 5, SessionTimeout: 10 * time.Second, Heartbeat: 3 * time.Second, RebalanceTO: time.Minute}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	f := func(props map[string]string, wantErr string) {
		t.Helper()
		_, err := parseDistConfig(props)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("parseDistConfig(%v) = %v, want an error containing %q", props, err, wantErr)
		}
	}
	f(map[string]string{}, "is required")
	f(base("config.storage.replication.factor", "0"), "must be -1 or at least 1")
	f(base("offset.storage.partitions", "0"), "offset.storage.partitions")
	f(base("session.timeout.ms", "soon"), "session.timeout.ms")
	if c, err := parseDistConfig(base("status.storage.replication.factor", "-1")); err != nil || c.StatusRF != -1 {
		t.Errorf("replication factor -1 = %d, %v; want -1 (broker default)", c.StatusRF, err)
	}
}

func TestSplitTaskKey(t *testing.T) {
	f := func(in, name string, n int, ok bool) {
		t.Helper()
		gn, gi, gok := splitTaskKey(in)
		if gn != name || gi != n || gok != ok {
			t.Errorf("splitTaskKey(%q) = (%q, %d, %v), want (%q, %d, %v)", in, gn, gi, gok, name, n, ok)
		}
	}
	f("src-0", "src", 0, true)
	f("my-conn-12", "my-conn", 12, true)
	f("-1", "", 0, false)
	f("x-", "", 0, false)
	f("x--1", "x-", 1, true) // a connector may be called "x-"
	f("nodash", "", 0, false)
}

// replayHerder is a distributed herder with no clients, for replaying
// config and status records.
func replayHerder() *Distributed {
	d := &Distributed{pending: map[string]map[int]map[string]string{}, statusGen: map[string]int32{},
		conns: map[string]bool{}, tasks: map[TaskID]bool{}}
	h := newHerder(nil, &Plugins{}, &MemOffsetStore{}, nil, slog.New(slog.DiscardHandler))
	h.w = NewWorker(WorkerConfig{WorkerID: "me:8083"}, &Plugins{}, nil, h, h.log)
	h.be = d
	d.Herder = h
	return d
}

func rec(key, value string) *kgo.Record {
	r := &kgo.Record{Key: []byte(key)}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// TestApplyConfigReplay replays config topic records (Kafka's formats) and
// checks the cluster state after each.
func TestApplyConfigReplay(t *testing.T) {
	d := replayHerder()
	state := func() string {
		d.Herder.mu.Lock()
		defer d.Herder.mu.Unlock()
		var b strings.Builder
		for _, n := range slices.Sorted(maps.Keys(d.state.configs)) {
			fmt.Fprintf(&b, "%s{%s} %s tasks=%d", n, d.state.configs[n]["k"], d.state.targets[n], len(d.state.taskConfigs[n]))
			for _, tc := range d.state.taskConfigs[n] {
				fmt.Fprintf(&b, " [%s]", tc["t"])
			}
			b.WriteString(";")
		}
		return b.String()
	}
	f := func(r *kgo.Record, want string) {
		t.Helper()
		d.applyConfig(r)
		if got := state(); got != want {
			t.Errorf("after %s=%s:\n got %s\nwant %s", r.Key, r.Value, got, want)
		}
	}
	f(rec("connector-a", `{"properties":{"k":"1"}}`), "a{1} STARTED tasks=0;")
	f(rec("task-a-0", `{"properties":{"t":"x"}}`), "a{1} STARTED tasks=0;") // not yet committed
	f(rec("task-a-1", `{"properties":{"t":"y"}}`), "a{1} STARTED tasks=0;")
	f(rec("commit-a", `{"tasks":2}`), "a{1} STARTED tasks=2 [x] [y];")
	f(rec("target-state-a", `{"state":"PAUSED"}`), "a{1} PAUSED tasks=2 [x] [y];")
	f(rec("target-state-a", `{"state":"PAUSED","state.v2":"STOPPED"}`), "a{1} STOPPED tasks=2 [x] [y];")
	f(rec("commit-a", `{"tasks":0}`), "a{1} STOPPED tasks=0;")
	f(rec("connector-b-x", `{"properties":{"k":"2"}}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=0;")
	f(rec("task-b-x-0", `{"properties":{"t":"z"}}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=0;")
	f(rec("commit-b-x", `{"tasks":1}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=1 [z];")
	// Malformed records are skipped, never fatal.
	f(rec("connector-c", `not json`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=1 [z];")
	f(rec("commit-c", `{"tasks":3}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=1 [z];")
	f(rec("target-state-b-x", `{"state":"DANCING"}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=1 [z];")
	f(rec("session-key", `{"key":"…"}`), "a{1} STOPPED tasks=0;b-x{2} STARTED tasks=1 [z];")
	// A tombstone deletes the connector.
	f(rec("connector-a", ""), "b-x{2} STARTED tasks=1 [z];")

	d.applyConfig(rec("restart-connector-b-x", `{"include-tasks":true,"only-failed":false}`))
	d.applyConfig(rec("restart-task-b-x-0", `{}`))
	d.Herder.mu.Lock()
	got := d.restarts
	d.Herder.mu.Unlock()
	wantR := map[string]restartReq{"b-x": {includeTasks: true}, "b-x\x000": {}}
	if diff := cmp.Diff(wantR, got, cmp.AllowUnexported(restartReq{})); diff != "" {
		t.Errorf("restarts (-want +got):\n%s", diff)
	}
}

// TestApplyStatusGenerations: a status from an older generation written by
// another worker does not overwrite a newer one.
func TestApplyStatusGenerations(t *testing.T) {
	d := replayHerder()
	d.applyConfig(rec("connector-s", `{"properties":{}}`))
	f := func(key, value string, wantTask Status) {
		t.Helper()
		d.applyStatus(rec(key, value))
		d.Herder.mu.Lock()
		got := d.tstatuses[TaskID{"s", 0}]
		d.Herder.mu.Unlock()
		if got != wantTask {
			t.Errorf("after %s=%s: task status %+v, want %+v", key, value, got, wantTask)
		}
	}
	f("status-task-s-0", `{"state":"RUNNING","trace":null,"worker_id":"w1:8083","generation":5}`, Status{State: StateRunning, WorkerID: "w1:8083"})
	f("status-task-s-0", `{"state":"RUNNING","trace":null,"worker_id":"w2:8083","generation":6}`, Status{State: StateRunning, WorkerID: "w2:8083"})
	// w1's late UNASSIGNED from generation 5 is ignored.
	f("status-task-s-0", `{"state":"UNASSIGNED","trace":null,"worker_id":"w1:8083","generation":5}`, Status{State: StateRunning, WorkerID: "w2:8083"})
	f("status-task-s-0", `{"state":"FAILED","trace":"boom","worker_id":"w2:8083","generation":6}`, Status{State: StateFailed, Trace: "boom", WorkerID: "w2:8083"})
	f("status-task-s-0", `garbage`, Status{State: StateFailed, Trace: "boom", WorkerID: "w2:8083"})
	f("status-task-s-0", "", Status{})
}
