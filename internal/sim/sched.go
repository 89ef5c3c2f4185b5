package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Errors seen by the production code through the simulated seams.
var (
	errNodeDown = errors.New("sim: node down")
	errTimeout  = errors.New("sim: timed out")
	errDropped  = errors.New("sim: unreachable")
)

// event is one thing that happens at a simulated instant. Events run in
// (at, seq) order on the simulation goroutine. An event bound to a node is
// deferred while the node is paused and dropped once that incarnation is
// gone (life differs).
type event struct {
	at   time.Duration
	seq  uint64
	node *node // nil: not bound to a node
	life int
	fn   func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// at schedules fn at simulated time t (never in the past), bound to n's
// current incarnation when n is not nil.
func (s *Sim) at(t time.Duration, n *node, fn func()) {
	s.evSeq++
	e := &event{at: max(t, s.now), seq: s.evSeq, node: n, fn: fn}
	if n != nil {
		e.life = n.life
	}
	heap.Push(&s.events, e)
}

// after schedules fn d from now.
func (s *Sim) after(d time.Duration, n *node, fn func()) { s.at(s.now+d, n, fn) }

// every runs fn every d on n's current incarnation until it ends.
func (s *Sim) every(d time.Duration, n *node, fn func()) {
	var tick func()
	tick = func() {
		fn()
		s.after(d, n, tick)
	}
	s.after(d, n, tick)
}

// result is what a parked task is woken with.
type result struct {
	val any
	err error
}

// task is a coroutine: production code that blocks (a Store mutation
// waiting for raft, a follower fetch waiting for its answer, an
// AlterPartition round trip) runs on its own goroutine, but only while the
// simulation goroutine waits for it. It runs until it parks in a seam
// (await) or returns, so exactly one goroutine runs at a time and the
// order of everything is the event loop's.
type task struct {
	s       *Sim
	id      uint64
	name    string
	node    *node // nil: the client
	inc     *incarnation
	fn      func(t *task) result
	onExit  func(result)
	resume  chan result
	started bool
	dead    bool   // its node crashed: every await fails at once
	wait    uint64 // the wait it is parked on; 0 when not parked
	res     result // what it is woken with
	out     result // what fn returned
}

// yield passes control from a task back to the simulation: it parked
// (start arms what will wake it) or it exited.
type yield struct {
	t     *task
	start func(t *task, wait uint64)
	exit  bool
	panic string
}

// spawn creates a task on n's incarnation inc (both nil: the client) and
// queues it to run; onExit runs on the simulation goroutine with fn's
// result.
func (s *Sim) spawn(name string, n *node, inc *incarnation, fn func(t *task) result, onExit func(result)) *task {
	s.taskSeq++
	t := &task{s: s, id: s.taskSeq, name: name, node: n, inc: inc, fn: fn, onExit: onExit, resume: make(chan result)}
	if inc != nil {
		inc.tasks[t.id] = t
	}
	s.live[t.id] = t
	s.runq = append(s.runq, t)
	return t
}

func (t *task) main() {
	y := yield{t: t, exit: true}
	defer func() {
		if r := recover(); r != nil {
			y.panic = fmt.Sprintf("%v\n%s", r, debug.Stack())
		}
		t.s.yieldc <- y
	}()
	t.out = t.fn(t)
}

// await parks the running task until start's arrangement wakes it (with
// Sim.wake). It runs on the task's goroutine.
func (s *Sim) await(start func(t *task, wait uint64)) result {
	t := s.running
	if t == nil {
		panic("BUG: sim: await outside a task")
	}
	if t.dead {
		return result{err: errNodeDown}
	}
	s.yieldc <- yield{t: t, start: start}
	return <-t.resume
}

// sleep parks the running task for d of simulated time.
func (s *Sim) sleep(d time.Duration) error {
	return s.await(func(t *task, w uint64) {
		s.after(d, t.node, func() { s.wake(t, w, result{}) })
	}).err
}

// wake makes a task parked on wait runnable with r; a stale wake (the task
// was woken otherwise since) does nothing.
func (s *Sim) wake(t *task, wait uint64, r result) {
	if t.wait != wait || wait == 0 {
		return
	}
	t.wait, t.res = 0, r
	s.runq = append(s.runq, t)
}

// deadline wakes the task parked on wait with errTimeout after d, running
// cancel first.
func (s *Sim) deadline(t *task, wait uint64, d time.Duration, cancel func()) {
	s.after(d, t.node, func() {
		if t.wait == wait {
			if cancel != nil {
				cancel()
			}
			s.wake(t, wait, result{err: errTimeout})
		}
	})
}

// runTask gives control to t until it parks or exits.
func (s *Sim) runTask(t *task) {
	s.running = t
	if !t.started {
		t.started = true
		go t.main()
	} else {
		t.resume <- t.res
	}
	y := <-s.yieldc
	s.running = nil
	if y.exit {
		delete(s.live, t.id)
		if t.inc != nil {
			delete(t.inc.tasks, t.id)
		}
		if y.panic != "" {
			s.fail("task %s on %s panicked: %s", t.name, t.where(), y.panic)
		}
		if t.onExit != nil && !t.dead {
			t.onExit(t.out)
		}
		return
	}
	s.waitSeq++
	t.wait = s.waitSeq
	y.start(t, t.wait)
}

func (t *task) where() string {
	if t.node == nil {
		return "client"
	}
	return fmt.Sprintf("node %d", t.node.id)
}

// kill ends every task of inc: parked ones are woken with errNodeDown and
// run to their end (each later await fails at once).
func (s *Sim) kill(inc *incarnation) {
	for _, id := range sortedKeys(inc.tasks) {
		t := inc.tasks[id]
		t.dead = true
		if t.wait != 0 {
			s.wake(t, t.wait, result{err: errNodeDown})
		}
	}
}

// settle runs runnable tasks and pending raft work until nothing is left
// to do at this instant. Tasks of a paused node wait for the pause to end.
func (s *Sim) settle() {
	for range 100_000 {
		if len(s.runq) > 0 {
			t := s.runq[0]
			s.runq = s.runq[1:]
			if t.node != nil && t.node.paused && !t.dead {
				t.node.held = append(t.node.held, t)
				continue
			}
			s.runTask(t)
			continue
		}
		if !s.readyAll() {
			return
		}
	}
	s.fail("BUG: sim: no quiescence after 100000 task switches at %v", s.now)
}
