package group

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/kavka-io/kavka/internal/coordinator"
)

// State is the state of a classic group (Kafka's GroupState).
type State int8

// The states of a classic group and their transitions (GroupMetadata.scala):
//
//	Empty ──join──▶ PreparingRebalance ──all joined or timeout──▶ CompletingRebalance
//	  ▲                 ▲      │                                       │ leader's SyncGroup
//	  │                 │      └─no member left──▶ Empty               ▼
//	  └── last member ──┴──── member joins/leaves/expires ◀──────── Stable
//
// Dead is a group being deleted; it leaves the shard at once.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Assigning", "Reconciling"}

// String returns Kafka's name for the state, as ListGroups and
// DescribeGroups report it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// ParseState parses a state name case-insensitively, as Kafka's ListGroups
// states filter does.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if equalFold(n, name) {
			return State(i), true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// Protocol is one assignment protocol a member supports, with its metadata
// (for the consumer protocol: the subscription, ConsumerMemberMetadata).
type Protocol struct {
	Name     string
	Metadata []byte
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	CommitTime  time.Time
}

// member is one member of a classic group.
type member struct {
	id, instanceID, clientID, clientHost string
	sessionTimeout, rebalanceTimeout     time.Duration
	protocolType                         string
	protocols                            []Protocol
	assignment                           []byte
	lastHeartbeat                        time.Time
	// join is set while the member waits in JoinGroup; sync while it waits
	// in SyncGroup. Each is called at most once and cleared.
	join func(JoinResult)
	sync func(SyncResult)
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) protocolNames() []string {
	names := make([]string, len(m.protocols))
	for i, p := range m.protocols {
		names[i] = p.Name
	}
	return names
}

func sameProtocols(a, b []Protocol) bool {
	return slices.EqualFunc(a, b, func(x, y Protocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// Group is one classic group and its committed offsets. It is owned by its
// shard: every method runs with the shard locked.
type Group struct {
	id           string
	state        State
	stateTime    time.Time // when the group entered state (retention of empty groups)
	protocolType string    // "" for a group that only commits offsets
	protocol     string    // selected protocol, "" unless a generation is running
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // group.instance.id → member id
	pending      map[string]time.Time // KIP-394 member ids handed out, → expiry
	offsets      map[TopicPartition]Offset
	// consumer is set for a KIP-848 consumer group; its classic fields
	// (members, generation, protocol) are then unused.
	consumer *consumerGroup

	// Rebalance timing. In PreparingRebalance the join completes at
	// joinDeadline, or earlier once every member has rejoined unless the
	// initial delay (group.initial.rebalance.delay.ms) is running.
	joinDeadline     time.Time
	initialDelay     bool
	initialRemaining time.Duration
	newMemberAdded   bool
	// In CompletingRebalance, members that have not sent SyncGroup by
	// syncDeadline are removed and the group rebalances again.
	syncDeadline time.Time
}

func newGroup(id string, now time.Time) *Group {
	return &Group{
		id:        id,
		stateTime: now,
		members:   make(map[string]*member),
		static:    make(map[string]string),
		pending:   make(map[string]time.Time),
		offsets:   make(map[TopicPartition]Offset),
	}
}

// effects collects what an operation asks of its shard: records to append
// and replies to send once they are durable (or at once when there are none).
// A reply gets the durability error, nil on success.
type effects struct {
	records []coordinator.Record
	replies []func(durable error)
}

func (e *effects) record(r coordinator.Record) { e.records = append(e.records, r) }
func (e *effects) reply(f func(durable error)) { e.replies = append(e.replies, f) }
func (e *effects) joinReply(f func(JoinResult), r JoinResult) {
	e.reply(func(error) { f(r) }) // join results are never persisted
}

func (g *Group) setState(s State, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (g *Group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

func (g *Group) size() int { return len(g.members) + len(g.pending) }

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// candidateProtocols are the protocols every member supports.
func (g *Group) candidateProtocols() []string {
	var cands []string
	first := true
	for _, m := range g.sortedMembers() {
		names := m.protocolNames()
		if first {
			cands, first = names, false
			continue
		}
		cands = slices.DeleteFunc(cands, func(n string) bool { return !slices.Contains(names, n) })
	}
	return cands
}

// supportsProtocols reports whether a member of protocolType with protocols
// may join (GroupMetadata.supportsProtocols).
func (g *Group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	cands := g.candidateProtocols()
	for _, p := range protocols {
		if slices.Contains(cands, p.Name) {
			return true
		}
	}
	return false
}

// selectProtocol picks the candidate protocol most members prefer; each
// member votes for the first candidate in its own list (GroupMetadata
// .selectProtocol). Ties go to the candidate listed first.
func (g *Group) selectProtocol() string {
	cands := g.candidateProtocols()
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(cands, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range cands {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *Group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return true
}

func (g *Group) addMember(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// removeMember drops m and answers its pending requests with
// UNKNOWN_MEMBER_ID. The caller moves the group on (updateAfterRemoval).
func (g *Group) removeMember(m *member, eff *effects) {
	if m.join != nil {
		eff.joinReply(m.join, JoinResult{Err: ErrUnknownMember, MemberID: m.id})
		m.join = nil
	}
	if m.sync != nil {
		f := m.sync
		eff.reply(func(error) { f(SyncResult{Err: ErrUnknownMember}) })
		m.sync = nil
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		for _, o := range g.sortedMembers() {
			if o.join != nil {
				g.leader = o.id
				break
			}
		}
		if g.leader == "" && len(g.members) > 0 {
			g.leader = g.sortedMembers()[0].id
		}
	}
}

// updateAfterRemoval moves the group on after members left
// (GroupCoordinator.removeMemberAndUpdateGroup).
func (g *Group) updateAfterRemoval(now time.Time, cfg *Config, eff *effects) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, cfg, eff)
		g.maybeCompleteJoin(now, cfg, eff)
	case PreparingRebalance:
		g.maybeCompleteJoin(now, cfg, eff)
	}
}

// prepareRebalance starts a rebalance: members must rejoin within the
// largest rebalance timeout. An empty group waits for the initial delay
// first, so that members starting together land in one generation.
func (g *Group) prepareRebalance(now time.Time, cfg *Config, eff *effects) {
	if g.state == CompletingRebalance {
		// The assignment the leader is computing is stale already.
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				f := m.sync
				eff.reply(func(error) { f(SyncResult{Err: ErrRebalanceInProgress}) })
				m.sync = nil
			}
		}
	}
	timeout := g.maxRebalanceTimeout()
	if g.state == Empty && cfg.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		g.joinDeadline = now.Add(cfg.InitialRebalanceDelay)
		g.initialRemaining = max(timeout-cfg.InitialRebalanceDelay, 0)
		g.newMemberAdded = false
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(timeout)
	}
	g.setState(PreparingRebalance, now)
}

// maybeCompleteJoin ends the join phase when it may (DelayedJoin and
// InitialDelayedJoin).
func (g *Group) maybeCompleteJoin(now time.Time, cfg *Config, eff *effects) {
	if g.state != PreparingRebalance {
		return
	}
	if g.initialDelay {
		if now.Before(g.joinDeadline) {
			return
		}
		if g.newMemberAdded && g.initialRemaining > 0 {
			d := min(cfg.InitialRebalanceDelay, g.initialRemaining)
			g.initialRemaining -= d
			g.joinDeadline = now.Add(d)
			g.newMemberAdded = false
			return
		}
	} else if !g.allJoined() && now.Before(g.joinDeadline) {
		return
	}
	g.completeJoin(now, eff)
}

// completeJoin starts the next generation with the members that rejoined
// (GroupCoordinator.onCompleteJoin).
func (g *Group) completeJoin(now time.Time, eff *effects) {
	g.initialDelay = false
	for _, m := range g.sortedMembers() {
		if m.join == nil {
			g.removeMember(m, eff)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(Empty, now)
		eff.record(g.groupRecord())
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(CompletingRebalance, now)
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	var all []MemberMetadata
	for _, m := range g.sortedMembers() {
		all = append(all, MemberMetadata{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadata(g.protocol)})
	}
	for _, m := range g.sortedMembers() {
		m.lastHeartbeat = now
		r := g.joinResult(m.id)
		if m.id == g.leader {
			r.Members = all
		}
		eff.joinReply(m.join, r)
		m.join = nil
	}
}

func (g *Group) joinResult(memberID string) JoinResult {
	return JoinResult{
		Generation:   g.generation,
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		Leader:       g.leader,
		MemberID:     memberID,
	}
}

// tick fires the deadlines that have passed: sessions, pending member ids,
// the join and sync phases.
func (g *Group) tick(now time.Time, cfg *Config, eff *effects) {
	for id, exp := range g.pending {
		if !now.Before(exp) {
			delete(g.pending, id)
		}
	}
	removed := false
	for _, m := range g.sortedMembers() {
		if m.join != nil || m.sync != nil {
			continue // a waiting member is alive; the phase deadlines bound the wait
		}
		if !now.Before(m.lastHeartbeat.Add(m.sessionTimeout)) {
			g.removeMember(m, eff)
			removed = true
		}
	}
	if removed {
		g.updateAfterRemoval(now, cfg, eff)
	}
	switch g.state {
	case PreparingRebalance:
		g.maybeCompleteJoin(now, cfg, eff)
	case CompletingRebalance:
		if now.Before(g.syncDeadline) {
			return
		}
		for _, m := range g.sortedMembers() {
			if m.sync == nil {
				g.removeMember(m, eff)
			}
		}
		g.prepareRebalance(now, cfg, eff)
		g.maybeCompleteJoin(now, cfg, eff)
	}
}
