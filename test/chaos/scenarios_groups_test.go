package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer-group row F18: group members crash (client gone without
// leaving), join and leave while the group coordinator's node is killed.
func init() {
	register(scenario{id: "F18", fault: "group consumers crashed (no leave) and restarted, members join/leave, the group coordinator's node SIGKILLed and restarted",
		partitions: 3, nemesis: killCoordinator, side: startGroupWorkload})
}

const chaosGroup = "chaos-g"

// killCoordinator SIGKILLs the node of the group coordinator of chaosGroup
// and restarts it after 5-7 s, while the side workload's members crash,
// join and leave on their own schedule.
func killCoordinator(r *run) {
	rounds := 1
	if *soak {
		rounds = 4
	}
	for range rounds {
		r.sleep(3 * time.Second)
		var coord int32
		if _, err := eventually(r.ctx, 30*time.Second, func() (err error) { coord, err = r.groupCoordinator(); return err }); err != nil {
			r.t.Fatalf("coordinator of %s: %v", chaosGroup, err)
		}
		nd := r.c.node(coord)
		r.nemesis("kill", "node %d (coordinator of group %s)", coord, chaosGroup)
		nd.kill()
		r.sleep(time.Duration(5000+r.rng.IntN(2000)) * time.Millisecond)
		r.nemesis("start", "node %d", coord)
		r.restart(nd)
		r.sleep(4 * time.Second)
	}
}

// groupCoordinator returns the node coordinating chaosGroup.
func (r *run) groupCoordinator() (int32, error) {
	cl, err := r.c.freshClient()
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	resp := kadm.NewClient(cl).FindGroupCoordinators(ctx, chaosGroup)
	c, ok := resp[chaosGroup]
	switch {
	case !ok:
		return -1, fmt.Errorf("no answer for %s", chaosGroup)
	case c.Err != nil:
		return -1, c.Err
	}
	return c.NodeID, nil
}

// groupWorkload runs members of chaosGroup on the chaos topic. A member
// polls, records what it got, commits it synchronously
// (CommitUncommittedOffsets) and only then allows a rebalance
// (BlockRebalanceOnPoll), so a committed offset never covers a record no
// member got. A watcher reads the committed offsets every 300 ms.
type groupWorkload struct {
	r   *run
	rng *rand.Rand // chaos goroutine only

	mu        sync.Mutex
	members   map[string]*member // guarded by mu; live members
	consumed  map[po]string      // guarded by mu; what some member got at each offset
	redeliver int                // guarded by mu; records got more than once
	committed map[int32]int64    // guarded by mu; highest committed offset seen
	next      int                // guarded by mu; member names

	stopChaos, stopWatch context.CancelFunc
	chaosDone, watchDone chan struct{}
	closing              sync.WaitGroup // members being closed
	crashes, joins, left int            // chaos goroutine only
}

// member is one group consumer and the dialer that can cut it off.
type member struct {
	name string
	cl   *kgo.Client
	dial *crashDialer
	stop context.CancelFunc
	done chan struct{}
}

// crashDialer dials through net.Dialer until it is crashed: then it closes
// every connection it made and refuses new ones, so that the client
// vanishes as a crashed process does, without a LeaveGroup.
type crashDialer struct {
	mu      sync.Mutex
	crashed bool       // guarded by mu
	conns   []net.Conn // guarded by mu
}

func (d *crashDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		c.Close()
		return nil, errors.New("client crashed")
	}
	d.conns = append(d.conns, c)
	return c, nil
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// startGroupWorkload starts two members, the committed-offset watcher and
// the member chaos (crash and restart, join, leave every 2.5-4 s); the
// check it returns stops the chaos, lets the group catch up with the end
// offsets, stops the members and checks what they consumed and committed.
func startGroupWorkload(r *run) func() {
	g := &groupWorkload{r: r, rng: rand.New(rand.NewPCG(r.rng.Uint64(), 18)), members: map[string]*member{},
		consumed: map[po]string{}, committed: map[int32]int64{}, chaosDone: make(chan struct{}), watchDone: make(chan struct{})}
	for range 2 {
		g.join()
	}
	var ctx context.Context
	ctx, g.stopWatch = context.WithCancel(r.ctx)
	go func() { defer close(g.watchDone); g.watch(ctx) }()
	ctx, g.stopChaos = context.WithCancel(r.ctx)
	go func() { defer close(g.chaosDone); g.chaos(ctx) }()
	return g.check
}

// join starts a new member.
func (g *groupWorkload) join() {
	g.mu.Lock()
	g.next++
	name := fmt.Sprintf("g%d", g.next)
	g.mu.Unlock()
	d := &crashDialer{}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(g.r.c.seeds()...),
		kgo.ConsumerGroup(chaosGroup),
		kgo.ConsumeTopics(g.r.topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			// What was polled was recorded before the poll returned.
			g.commit(ctx, name, cl)
		}),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(15*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.Dialer(d.DialContext),
		kgo.ClientID("chaos-"+name),
	)
	if err != nil {
		g.r.problem("member %s: %v", name, err)
		return
	}
	ctx, stop := context.WithCancel(g.r.ctx)
	m := &member{name: name, cl: cl, dial: d, stop: stop, done: make(chan struct{})}
	g.mu.Lock()
	g.members[name] = m
	g.mu.Unlock()
	go func() { defer close(m.done); g.consume(ctx, m) }()
}

// consume polls, records, commits, allows a rebalance, until ctx ends.
func (g *groupWorkload) consume(ctx context.Context, m *member) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := m.cl.PollFetches(pctx)
		cancel()
		n := 0
		fs.EachRecord(func(rec *kgo.Record) {
			n++
			k := po{rec.Partition, rec.Offset}
			g.mu.Lock()
			if v, ok := g.consumed[k]; ok {
				g.redeliver++
				if v != string(rec.Value) {
					g.r.problem("member %s got %q at %d/%d, another got %q there", m.name, rec.Value, rec.Partition, rec.Offset, v)
				}
			}
			g.consumed[k] = string(rec.Value)
			g.mu.Unlock()
		})
		if n > 0 && ctx.Err() == nil {
			g.commit(ctx, m.name, m.cl)
		}
		m.cl.AllowRebalance()
	}
}

// commit commits what cl polled, synchronously (≤ 10 s); a failure is
// normal under faults (the next commit covers it).
func (g *groupWorkload) commit(ctx context.Context, name string, cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
		g.r.t.Logf("member %s: commit: %v", name, err)
	}
}

// crash cuts a member off (its connections closed, no LeaveGroup) and
// closes its client in the background: the coordinator only notices at
// the session timeout.
func (g *groupWorkload) crash(m *member) {
	g.r.nemesis("crash-member", "%s (no leave)", m.name)
	m.dial.crash()
	m.stop()
	g.closing.Add(1)
	go func() {
		defer g.closing.Done()
		<-m.done
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m.cl.LeaveGroupContext(ctx) // dead connections: does not wait
		m.cl.CloseAllowingRebalance()
	}()
}

// leave stops a member gracefully in the background: it commits on revoke
// and leaves.
func (g *groupWorkload) leave(m *member) {
	g.r.nemesis("leave", "member %s", m.name)
	m.stop()
	g.closing.Add(1)
	go func() {
		defer g.closing.Done()
		<-m.done
		m.cl.CloseAllowingRebalance()
	}()
}

// chaos acts every 1.5-3 s until ctx ends, every other time crashing a
// member (replaced 1-2 s later), otherwise adding or removing one.
func (g *groupWorkload) chaos(ctx context.Context) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(1500+g.rng.IntN(1500)) * time.Millisecond):
		}
		live := g.live()
		switch {
		case i%2 == 0 && len(live) > 0:
			m := pick(g.rng, live)
			g.remove(m)
			g.crash(m)
			g.crashes++
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(1000+g.rng.IntN(1000)) * time.Millisecond):
			}
			g.r.nemesis("join", "member replacing %s", m.name)
			g.join()
			g.joins++
		case len(live) < 2 || len(live) < 4 && g.rng.IntN(2) == 0:
			g.r.nemesis("join", "member (%d live)", len(live))
			g.join()
			g.joins++
		default:
			m := pick(g.rng, live)
			g.remove(m)
			g.leave(m)
			g.left++
		}
	}
}

func (g *groupWorkload) live() []*member {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*member
	for i := 1; i <= g.next; i++ {
		if m, ok := g.members[fmt.Sprintf("g%d", i)]; ok {
			out = append(out, m)
		}
	}
	return out
}

func (g *groupWorkload) remove(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.members, m.name)
}

// fetchCommitted reads the group's committed offsets of the topic.
func (g *groupWorkload) fetchCommitted(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, chaosGroup)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, o := range resp[g.r.topic] {
		if o.Err == nil && o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// observe records committed offsets and reports one below an offset seen
// committed before.
func (g *groupWorkload) observe(got map[int32]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, o := range got {
		if prev, ok := g.committed[p]; ok && o < prev {
			g.r.problem("group %s: committed offset of partition %d went back from %d to %d", chaosGroup, p, prev, o)
		}
		g.committed[p] = max(g.committed[p], o)
	}
}

// watch reads the committed offsets every 300 ms until ctx ends.
func (g *groupWorkload) watch(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.r.c.seeds()...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		g.r.problem("offset watcher: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for ctx.Err() == nil {
		if got, err := g.fetchCommitted(ctx, adm); err == nil {
			g.observe(got)
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// awaitCommittedToEnd waits (≤ wait) until the group has committed every
// partition's end offset, as the group and consume-transform-produce
// checks do after the heal. ok is false when the end offsets could not be
// read (a problem is reported; the caller stops checking); reached is false
// when the commits did not get there in time (reported too).
func (g *groupWorkload) awaitCommittedToEnd(adm *kadm.Client, what string, wait time.Duration) (reached, ok bool) {
	r := g.r
	var ends kadm.ListedOffsets
	if _, err := eventually(r.ctx, 20*time.Second, func() (err error) {
		ends, err = adm.ListEndOffsets(r.ctx, r.topic)
		if err == nil {
			err = ends.Error()
		}
		return err
	}); err != nil {
		r.problem("%s: end offsets: %v", what, err)
		return false, false
	}
	if d, err := eventually(r.ctx, wait, func() error {
		got, err := g.fetchCommitted(r.ctx, adm)
		if err != nil {
			return err
		}
		g.observe(got)
		for p := range r.partitions {
			if e, _ := ends.Lookup(r.topic, p); got[p] < e.Offset {
				return fmt.Errorf("partition %d committed %d, end %d", p, got[p], e.Offset)
			}
		}
		return nil
	}); err != nil {
		r.problem("group %s did not commit up to the end offsets %v after the heal: %v", chaosGroup, d.Round(time.Second), err)
		return false, true
	}
	return true, true
}

// awaitClosed waits (≤ 40 s) for the members' clients being closed.
func awaitClosed(r *run, closing *sync.WaitGroup, whose string) {
	closed := make(chan struct{})
	go func() { defer close(closed); closing.Wait() }()
	select {
	case <-closed:
	case <-time.After(40 * time.Second):
		r.problem("%s clients not closed within 40 s", whose)
	}
}

// check runs after the final drain: it stops the chaos, waits (≤ 40 s)
// until the group has committed every partition's end offset, stops the
// members, and checks that the committed offsets never went back and that
// every acked record below them was consumed by some member.
func (g *groupWorkload) check() {
	r := g.r
	g.stopChaos()
	<-g.chaosDone
	if len(g.live()) == 0 {
		g.join()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.seeds()...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		r.problem("group check: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, ok := g.awaitCommittedToEnd(adm, "group check", 40*time.Second); !ok {
		return
	}
	for _, m := range g.live() {
		g.remove(m)
		g.leave(m)
	}
	g.stopWatch()
	<-g.watchDone
	awaitClosed(r, &g.closing, "crashed members'")
	final, err := g.fetchCommitted(r.ctx, adm)
	if err != nil {
		r.problem("group check: final committed offsets: %v", err)
		return
	}
	g.observe(final)
	g.mu.Lock()
	defer g.mu.Unlock()
	missed := 0
	for _, e := range r.h.Events() {
		if e.Type != "ok" || e.F != "send" || e.Offset >= final[e.Partition] {
			continue
		}
		v, ok := g.consumed[po{e.Partition, e.Offset}]
		switch {
		case !ok:
			missed++
			if missed <= 5 {
				r.problem("group %s: %q acked at %d/%d, below the committed offset %d, consumed by no member", chaosGroup, e.Value, e.Partition, e.Offset, final[e.Partition])
			}
		case v != e.Value:
			r.problem("group %s: a member got %q at %d/%d, acked there: %q", chaosGroup, v, e.Partition, e.Offset, e.Value)
		}
	}
	if missed > 5 {
		r.problem("group %s: %d acked records below the committed offsets consumed by no member", chaosGroup, missed)
	}
	r.note(fmt.Sprintf("group: %d crashes, %d joins, %d leaves, %d records consumed, %d redelivered, committed %v",
		g.crashes, g.joins, g.left, len(g.consumed), g.redeliver, final))
}
