package chaos

import (
	"testing"
	"time"
)

// hist builds a history from compact steps, one millisecond apart.
type hist struct {
	events []Event
	t      time.Duration
}

func (h *hist) add(e Event) *hist {
	h.t += time.Millisecond
	e.Mono = h.t
	h.events = append(h.events, e)
	return h
}

func (h *hist) invoke(proc, v string, p int32) *hist {
	return h.add(Event{Type: "invoke", F: "send", Process: proc, Partition: p, Value: v, Offset: -1})
}

func (h *hist) ok(proc, v string, p int32, o int64) *hist {
	return h.add(Event{Type: "ok", F: "send", Process: proc, Partition: p, Value: v, Offset: o})
}

func (h *hist) info(proc, v string, p int32) *hist {
	return h.add(Event{Type: "info", F: "send", Process: proc, Partition: p, Value: v, Offset: -1})
}

func (h *hist) poll(proc string, p int32, recs ...Polled) *hist {
	return h.add(Event{Type: "ok", F: "poll", Process: proc, Partition: p, Records: recs})
}

func (h *hist) send(proc, v string, p int32, o int64) *hist {
	return h.invoke(proc, v, p).ok(proc, v, p, o)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *hist
		want map[string]int
	}{
		{"valid", new(hist).send("p0", "a", 0, 0).send("p0", "b", 0, 1).invoke("p1", "c", 0).info("p1", "c", 0).
			poll("c0", 0, Polled{0, "a"}, Polled{1, "b"}), nil},
		{"indeterminate write read once is fine", new(hist).invoke("p1", "c", 0).info("p1", "c", 0).send("p0", "a", 0, 1).
			poll("c0", 0, Polled{0, "c"}, Polled{1, "a"}), nil},
		{"lost-write", new(hist).send("p0", "a", 0, 0).send("p0", "b", 0, 1).poll("c0", 0, Polled{1, "b"}),
			map[string]int{"lost-write": 1, "poll-skip": 0}},
		{"unseen", new(hist).send("p0", "a", 0, 0).send("p0", "b", 0, 1).poll("c0", 0, Polled{0, "a"}),
			map[string]int{"unseen": 1}},
		{"duplicate", new(hist).send("p0", "a", 0, 0).poll("c0", 0, Polled{0, "a"}, Polled{1, "a"}),
			map[string]int{"duplicate": 1}},
		{"inconsistent-offsets (two acks)", new(hist).send("p0", "a", 0, 0).send("p1", "b", 0, 0).poll("c0", 0, Polled{0, "a"}),
			map[string]int{"inconsistent-offsets": 1, "unseen": 1, "nonmonotonic-send": 1}},
		{"nonmonotonic-send", new(hist).send("p0", "a", 0, 5).send("p1", "b", 0, 3).poll("c0", 0, Polled{3, "b"}, Polled{5, "a"}),
			map[string]int{"nonmonotonic-send": 1, "poll-skip": 1}},
		{"concurrent sends may land in any order", new(hist).invoke("p0", "a", 0).invoke("p1", "b", 0).ok("p1", "b", 0, 1).ok("p0", "a", 0, 0).
			poll("c0", 0, Polled{0, "a"}, Polled{1, "b"}), nil},
		{"producer-order", new(hist).invoke("p0", "a", 0).invoke("p0", "b", 0).ok("p0", "b", 0, 0).ok("p0", "a", 0, 1).
			poll("c0", 0, Polled{0, "b"}, Polled{1, "a"}), map[string]int{"producer-order": 1}},
		{"phantom-read", new(hist).poll("c0", 0, Polled{0, "x"}), map[string]int{"phantom-read": 1}},
		{"nonmonotonic-poll", new(hist).send("p0", "a", 0, 0).send("p0", "b", 0, 1).
			poll("c0", 0, Polled{0, "a"}, Polled{1, "b"}).poll("c0", 0, Polled{0, "a"}), map[string]int{"nonmonotonic-poll": 1}},
		{"separate consumers are separate cursors", new(hist).send("p0", "a", 0, 0).
			poll("c0", 0, Polled{0, "a"}).poll("c1", 0, Polled{0, "a"}), nil},
		{"incomplete-send", new(hist).invoke("p0", "a", 0), map[string]int{"incomplete-send": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.h.events)
			for k, v := range r.Anomalies {
				if len(v) != tc.want[k] {
					t.Errorf("%s: %d, want %d: %v", k, len(v), tc.want[k], v)
				}
			}
		})
	}
}

func TestCheckRecover(t *testing.T) {
	h := new(hist).send("p0", "a", 0, 0).add(Event{Type: "nemesis", F: "heal"})
	h.t += 2 * time.Second
	h.invoke("p0", "b", 0)
	h.t += time.Second
	h.ok("p0", "b", 0, 1).poll("c0", 0, Polled{0, "a"}, Polled{1, "b"})
	r := Check(h.events)
	if !r.Valid() {
		t.Fatal(r.Summary())
	}
	if r.Recover < 3*time.Second || r.Recover > 3*time.Second+10*time.Millisecond {
		t.Errorf("recover %v, want ~3s", r.Recover)
	}
	if r.MaxGap < 3*time.Second {
		t.Errorf("max gap %v", r.MaxGap)
	}
}
