package sim

import (
	"time"
)

// The in-memory network: every message between two nodes (raft messages,
// broker RPCs, follower fetches, client requests) is an event delivered
// after a seeded delay, unless a fault drops it. Node 0 is the client,
// which faults never cut off (its messages are still delayed and dropped).
//
// A message to a node is lost if the node is down or restarted since it was
// sent (the connection broke), or if the link is cut when it is sent or when
// it arrives. A paused node receives nothing until it resumes (the
// messages wait, as in its socket buffers).

// netConfig are the current network faults.
type netConfig struct {
	drop     float64       // probability that a message is lost
	minDelay time.Duration // every message takes at least this long
	jitter   time.Duration // plus a uniform extra delay up to this (reorders)
}

var calmNet = netConfig{minDelay: time.Millisecond, jitter: 2 * time.Millisecond}

// cut reports whether the one-way link from → to is down.
func (s *Sim) cut(from, to int32) bool {
	return from != to && from != 0 && to != 0 && s.cuts[[2]int32{from, to}]
}

// send delivers fn at node to after a network delay. desc names the
// message in the trace when it is lost.
func (s *Sim) send(from, to int32, desc string, fn func()) {
	dst := s.node(to)
	if dst == nil || !dst.up || s.cut(from, to) {
		return
	}
	d := s.netc.minDelay
	if s.netc.jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(s.netc.jitter)))
	}
	if from != to && s.netc.drop > 0 && s.rng.Float64() < s.netc.drop {
		s.dropped++
		return
	}
	s.sent++
	life := dst.life
	s.after(d, dst, func() {
		if dst.life != life || !dst.up || s.cut(from, to) {
			return
		}
		fn()
	})
}

// rpc sends a request from the running task's node to node to, where
// handle runs (on the simulation goroutine) and answers through reply,
// and parks the task until the answer is back or timeout passes.
func (s *Sim) rpc(from, to int32, desc string, timeout time.Duration, handle func(reply func(result))) result {
	return s.await(func(t *task, w uint64) {
		s.send(from, to, desc, func() {
			handle(func(r result) {
				s.send(to, from, desc+" reply", func() { s.wake(t, w, r) })
			})
		})
		s.deadline(t, w, timeout, nil)
	})
}
