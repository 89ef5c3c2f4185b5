package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Result is what Check found in a history. Every slice holds one line per
// anomaly (capped by the caller when printed).
type Result struct {
	Acked         int // sends with an ok completion
	Indeterminate int // sends that ended info (timeout, error)
	Polled        int // distinct (partition, offset) pairs read
	Anomalies     map[string][]string
	// Recover is, after the last nemesis "heal" event, the time until every
	// partition acked a send invoked after the heal (-1: never did).
	Recover time.Duration
	// MaxGap is the longest time any partition went without an ok send
	// completing, between the first and the last ok send of the run.
	MaxGap time.Duration
}

// Count returns how many anomalies of kind were found.
func (r *Result) Count(kind string) int { return len(r.Anomalies[kind]) }

// Valid reports whether no anomaly was found.
func (r *Result) Valid() bool {
	for _, v := range r.Anomalies {
		if len(v) > 0 {
			return false
		}
	}
	return true
}

func (r *Result) add(kind, format string, args ...any) {
	r.Anomalies[kind] = append(r.Anomalies[kind], fmt.Sprintf(format, args...))
}

// Summary lists each kind with its count and first few examples.
func (r *Result) Summary() string {
	var kinds []string
	for k, v := range r.Anomalies {
		if len(v) > 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		v := r.Anomalies[k]
		fmt.Fprintf(&b, "%s: %d", k, len(v))
		for i, s := range v {
			if i == 5 {
				fmt.Fprintf(&b, "\n    …")
				break
			}
			fmt.Fprintf(&b, "\n    %s", s)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

type send struct {
	proc      string
	seq       int // order of invocation within proc
	partition int32
	value     string
	offset    int64
	status    string // ok, fail, info, or "" (no completion)
	invoke    time.Duration
	complete  time.Duration
}

type po struct {
	p int32
	o int64
}

// Check runs every checker over a history:
//   - lost-write: an ok send at offset a never read although a higher
//     offset of its partition was;
//   - unseen: an ok send never read at all (after the final drain);
//   - duplicate: one value at more than one offset;
//   - inconsistent-offsets: one (partition, offset) with two values;
//   - nonmonotonic-send: an ok offset not above every offset of its
//     partition acked before the send was invoked;
//   - producer-order: one producer's acked sends to a partition not in its
//     invocation order (idempotent producers keep order);
//   - phantom-read: a value read that no send ever carried; aborted-read: a
//     value read whose send definitely failed (G1a);
//   - poll-skip / nonmonotonic-poll: an assign-mode consumer's successive
//     offsets of a partition not consecutive / going backwards.
func Check(events []Event) *Result {
	r := &Result{Anomalies: map[string][]string{}, Recover: -1}
	for _, k := range []string{"lost-write", "unseen", "duplicate", "inconsistent-offsets", "nonmonotonic-send",
		"producer-order", "phantom-read", "aborted-read", "poll-skip", "nonmonotonic-poll", "incomplete-send"} {
		r.Anomalies[k] = nil
	}
	sends := map[string]*send{} // by value
	var order []*send
	seqs := map[string]int{}
	var lastHeal time.Duration = -1
	for _, e := range events {
		switch {
		case e.Type == "nemesis" && e.F == "heal":
			lastHeal = e.Mono
		case e.F == "send" && e.Type == "invoke":
			s := &send{proc: e.Process, seq: seqs[e.Process], partition: e.Partition, value: e.Value, offset: -1, invoke: e.Mono}
			seqs[e.Process]++
			sends[e.Value] = s
			order = append(order, s)
		case e.F == "send":
			s := sends[e.Value]
			if s == nil {
				r.add("incomplete-send", "completion of %q without invoke", e.Value)
				continue
			}
			s.status, s.complete = e.Type, e.Mono
			if e.Type == "ok" {
				s.offset, s.partition = e.Offset, e.Partition
			}
		}
	}
	// What every (partition, offset) was seen holding, and where every value was.
	at := map[po]map[string]bool{}
	where := map[string]map[po]bool{}
	note := func(p int32, o int64, v string) {
		k := po{p, o}
		if at[k] == nil {
			at[k] = map[string]bool{}
		}
		at[k][v] = true
		if where[v] == nil {
			where[v] = map[po]bool{}
		}
		where[v][k] = true
	}
	for _, s := range order {
		switch s.status {
		case "ok":
			r.Acked++
			note(s.partition, s.offset, s.value)
		case "info":
			r.Indeterminate++
		case "":
			r.add("incomplete-send", "%s (%s #%d) invoked at %v never completed", s.value, s.proc, s.seq, s.invoke)
		}
	}
	read := map[string]bool{}
	maxRead := map[int32]int64{}
	type cursor struct {
		proc string
		p    int32
	}
	last := map[cursor]int64{}
	for _, e := range events {
		if e.F != "poll" || e.Type != "ok" {
			continue
		}
		for _, rec := range e.Records {
			note(e.Partition, rec.Offset, rec.Value)
			read[rec.Value] = true
			if o, ok := maxRead[e.Partition]; !ok || rec.Offset > o {
				maxRead[e.Partition] = rec.Offset
			}
			s := sends[rec.Value]
			switch {
			case s == nil:
				r.add("phantom-read", "%s read %q at %d/%d, never sent", e.Process, rec.Value, e.Partition, rec.Offset)
			case s.status == "fail":
				r.add("aborted-read", "%s read %q at %d/%d, whose send failed", e.Process, rec.Value, e.Partition, rec.Offset)
			}
			c := cursor{e.Process, e.Partition}
			if prev, ok := last[c]; ok {
				switch {
				case rec.Offset <= prev:
					r.add("nonmonotonic-poll", "%s partition %d: offset %d after %d (at %v)", e.Process, e.Partition, rec.Offset, prev, e.Mono)
				case rec.Offset > prev+1:
					r.add("poll-skip", "%s partition %d: offset %d after %d (at %v)", e.Process, e.Partition, rec.Offset, prev, e.Mono)
				}
			}
			last[c] = rec.Offset
		}
	}
	r.Polled = 0
	for k, vs := range at {
		if len(vs) > 1 {
			var l []string
			for v := range vs {
				l = append(l, v)
			}
			sort.Strings(l)
			r.add("inconsistent-offsets", "partition %d offset %d holds %v", k.p, k.o, l)
		}
	}
	for _, e := range events {
		if e.F == "poll" {
			r.Polled += len(e.Records)
		}
	}
	for v, ks := range where {
		if len(ks) > 1 {
			var l []string
			for k := range ks {
				l = append(l, fmt.Sprintf("%d/%d", k.p, k.o))
			}
			sort.Strings(l)
			r.add("duplicate", "%q at %v", v, l)
		}
	}
	// Lost and unseen acked writes.
	for _, s := range order {
		if s.status != "ok" || read[s.value] {
			continue
		}
		if m, ok := maxRead[s.partition]; ok && m > s.offset {
			r.add("lost-write", "%q acked at %d/%d (%v), partition read up to %d", s.value, s.partition, s.offset, s.complete, m)
		} else {
			r.add("unseen", "%q acked at %d/%d (%v)", s.value, s.partition, s.offset, s.complete)
		}
	}
	// Real-time offset order per partition: sweep invocations and
	// completions in time order.
	type ev struct {
		t      time.Duration
		invoke bool
		s      *send
	}
	var evs []ev
	for _, s := range order {
		if s.status == "ok" {
			evs = append(evs, ev{s.invoke, true, s}, ev{s.complete, false, s})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].t != evs[j].t {
			return evs[i].t < evs[j].t
		}
		return !evs[i].invoke && evs[j].invoke // completions first at equal times
	})
	maxAcked := map[int32]int64{}
	known := map[*send]int64{}
	for _, e := range evs {
		if e.invoke {
			if m, ok := maxAcked[e.s.partition]; ok {
				known[e.s] = m
			} else {
				known[e.s] = -1
			}
			continue
		}
		if k := known[e.s]; e.s.offset <= k {
			r.add("nonmonotonic-send", "%q got %d/%d but %d was acked before it was sent", e.s.value, e.s.partition, e.s.offset, k)
		}
		if m, ok := maxAcked[e.s.partition]; !ok || e.s.offset > m {
			maxAcked[e.s.partition] = e.s.offset
		}
	}
	// Per producer and partition, acked offsets follow invocation order.
	type pp struct {
		proc string
		p    int32
	}
	prev := map[pp]*send{}
	for _, s := range order {
		if s.status != "ok" {
			continue
		}
		k := pp{s.proc, s.partition}
		if q := prev[k]; q != nil && s.offset <= q.offset {
			r.add("producer-order", "%s partition %d: %q (sent later) at %d, %q at %d", s.proc, s.partition, s.value, s.offset, q.value, q.offset)
		}
		prev[k] = s
	}
	// Liveness numbers.
	byPart := map[int32][]*send{}
	for _, s := range order {
		if s.status == "ok" {
			byPart[s.partition] = append(byPart[s.partition], s)
		}
	}
	for _, ss := range byPart {
		sort.Slice(ss, func(i, j int) bool { return ss[i].complete < ss[j].complete })
		for i := 1; i < len(ss); i++ {
			if g := ss[i].complete - ss[i-1].complete; g > r.MaxGap {
				r.MaxGap = g
			}
		}
	}
	if lastHeal >= 0 {
		r.Recover = 0
		for _, ss := range byPart {
			first := time.Duration(-1)
			for _, s := range ss {
				if s.invoke >= lastHeal && (first < 0 || s.complete < first) {
					first = s.complete
				}
			}
			if first < 0 {
				r.Recover = -1
				break
			}
			if d := first - lastHeal; d > r.Recover {
				r.Recover = d
			}
		}
	}
	return r
}
