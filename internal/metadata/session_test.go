package metadata

import (
	"testing"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
)

// TestSessionsIgnoreWallClockJumps: broker sessions are measured on the
// monotonic Ticks clock, so a wall clock that strobes by an hour between a
// heartbeat and the controller's next tick fences no live broker, while a
// broker that stops heartbeating is still fenced after the session timeout
// of monotonic time. (Measured on the wall clock, a heartbeat taken while
// the clock was an hour back looked an hour old to the next tick: the F19
// clock strobe fenced live brokers.)
func TestSessionsIgnoreWallClockJumps(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	wall, ticks := clock.NewFake(start), clock.NewFake(start)
	const session = 9 * time.Second
	s, epochs := newControllerStoreWith(t, 3, Options{Clock: wall}, QuorumOptions{SessionTimeout: session, Ticks: ticks})

	tick := func() {
		t.Helper()
		if err := s.ControllerTick(); err != nil {
			t.Fatalf("controller tick: %v", err)
		}
	}
	fenced := func(id int32) bool { return s.Image().Registration(id).Fenced }

	// 40 s of heartbeats every 2 s from brokers 1 and 2 (broker 3 goes
	// quiet), the wall clock an hour back at each heartbeat and an hour
	// forward at each tick.
	var quietFencedAt time.Duration
	for step := time.Duration(0); step < 40*time.Second; step += 250 * time.Millisecond {
		ticks.Advance(250 * time.Millisecond)
		if step%(2*time.Second) == 0 {
			wall.Set(start.Add(step - time.Hour))
			for _, id := range []int32{1, 2} {
				heartbeat(t, s, Heartbeat{NodeID: id, Epoch: epochs[id], MetadataOffset: s.Image().Offset})
			}
		}
		wall.Set(start.Add(step + time.Hour))
		tick()
		if fenced(1) || fenced(2) {
			t.Fatalf("at %v a live broker was fenced (1: %v, 2: %v)", step, fenced(1), fenced(2))
		}
		if quietFencedAt == 0 && fenced(3) {
			quietFencedAt = step
		}
	}
	if quietFencedAt == 0 {
		t.Fatal("broker 3 stopped heartbeating and was never fenced")
	}
	if quietFencedAt < session-time.Second || quietFencedAt > session+time.Second {
		t.Errorf("broker 3 fenced after %v of monotonic time, want about the %v session timeout", quietFencedAt, session)
	}
}
