package raft

import "go.etcd.io/raft/v3/raftpb"

// Stepper drives one member of a raft group without Node.Run: the caller is
// the single goroutine that ticks it, hands it messages and runs its Ready
// loop, so that a deterministic simulation (internal/sim) owns every event
// and its order. It runs the same core as Node (storage, Ready handling,
// waiters, snapshots); cfg.Ticks and cfg.TickInterval are ignored.
// A Stepper is not safe for concurrent use.
type Stepper struct{ c *core }

// OpenStepper opens (or bootstraps) the member's storage like Open, calling
// cfg.Restore if there is a snapshot.
func OpenStepper(cfg Config) (*Stepper, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	return &Stepper{c: c}, nil
}

// ID returns the member's raft id.
func (s *Stepper) ID() uint64 { return s.c.id }

// Tick advances raft's logical clock by one tick.
func (s *Stepper) Tick() {
	s.c.tick()
	s.c.refreshStatus()
}

// Step hands raft a message from a peer.
func (s *Stepper) Step(m *raftpb.Message) { s.c.step(m) }

// ReportUnreachable tells raft that peer id could not be reached.
func (s *Stepper) ReportUnreachable(id uint64) { s.c.reportUnreachable(id) }

// Ready runs the Ready loop (persist, send, apply, advance) until raft has
// nothing more to do or a bounded amount of work was done; call it after
// every Tick, Step or request. An error means storage failed: the member
// must be dropped and reopened from its disk.
func (s *Stepper) Ready() error { return s.c.handleReady() }

// Propose proposes data; done is called (on the caller's goroutine, from a
// later Ready or at once) with the entry's index once it is applied here,
// or with an error as for Node.Propose. The returned function forgets the
// request (a caller that stopped waiting); done is then never called.
func (s *Stepper) Propose(data []byte, done func(index uint64, err error)) (cancel func()) {
	return s.cancelFunc(s.c.propose(data, done))
}

// ReadIndex asks for a linearizable read point, as Node.ReadIndex; done gets
// it once this member has applied up to it.
func (s *Stepper) ReadIndex(done func(index uint64, err error)) (cancel func()) {
	return s.cancelFunc(s.c.readIndex(done))
}

// AddLearner proposes adding node id as a learner, as Node.AddLearner; done
// is called once the change is applied here.
func (s *Stepper) AddLearner(id uint64, done func(index uint64, err error)) (cancel func()) {
	return s.cancelFunc(s.c.changeMembership(raftpb.ConfChangeAddLearnerNode, id, done))
}

func (s *Stepper) cancelFunc(seq uint64) func() {
	return func() {
		if seq != 0 {
			s.c.cancel(seq)
		}
	}
}

// Status returns the member's view of the group as of the last Tick or
// Ready.
func (s *Stepper) Status() Status { return s.c.status }

// Close fails every pending request with ErrStopped and releases the files.
func (s *Stepper) Close() error {
	s.c.failAll(ErrStopped)
	return s.c.close()
}
