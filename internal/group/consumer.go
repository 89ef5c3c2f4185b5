package group

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"
)

// KIP-848 consumer groups: the broker assigns partitions.
//
// A consumer group has a group epoch, bumped by every change that calls for
// a new assignment (a member joins, leaves or changes its subscription; a
// subscribed topic gains partitions or appears), and a target assignment
// computed by a server-side assignor for the latest group epoch (the
// assignment epoch). Each member converges on its target through
// heartbeats, revoking before it gets new partitions (mirrors Kafka's
// GroupMetadataManager.consumerGroupHeartbeat and CurrentAssignmentBuilder):
//
//	Stable ──target changed, partitions to give up──▶ UnrevokedPartitions
//	  ▲   ──target changed, nothing to give up──┐          │ heartbeat no longer lists them
//	  │                                          ▼          ▼
//	  └──── every target partition is free ── UnreleasedPartitions (some owned by others)
//
// A member reaches the assignment epoch only once it has revoked what it
// must give up, so a partition is never owned by two members at once
// (owners records who holds each partition, revoking included).

// Consumer group states (Kafka's ConsumerGroup.ConsumerGroupState), beside
// the classic ones. Empty and Dead are shared.
const (
	Assigning State = iota + Dead + 1
	Reconciling
)

// memberState is where a member is in its reconciliation.
type memberState int8

const (
	memberStable     memberState = iota // owns its target, at the assignment epoch
	memberUnrevoked                     // must give up revoking before going on
	memberUnreleased                    // waits for partitions other members still hold
)

var memberStateNames = [...]string{"stable", "unrevoked_partitions", "unreleased_partitions"}

func (s memberState) String() string {
	if int(s) < len(memberStateNames) {
		return memberStateNames[s]
	}
	return "unknown"
}

// Member epochs with a meaning in ConsumerGroupHeartbeat.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochLeaveStatic = -2 // a static member leaves for now; its assignment waits for it
)

// consumerGroup is the KIP-848 part of a Group (Group.consumer).
type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	metaHash        uint64 // of the subscribed topics' ids and partition counts
	members         map[string]*cmember
	owners          map[tp]string // partition → member holding it (assigned or revoking)
	written         written       // what the last group record held
}

// written is what a consumer group record holds.
type written struct {
	epoch, assignmentEpoch int32
	metaHash               uint64
	stateTime              time.Time
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: make(map[string]*cmember), owners: make(map[tp]string)}
}

// cmember is one member of a consumer group.
type cmember struct {
	id, instanceID, rackID, clientID, clientHost string
	topics                                       []string // subscribed names, sorted
	regex                                        string   // subscribed regex, "" for none
	assignor                                     string   // requested server assignor, "" for the default
	rebalanceTimeout                             time.Duration

	epoch, prevEpoch int32
	state            memberState
	assigned         partSet // what the member owns now
	revoking         partSet // what it must give up before going on
	target           partSet // its part of the target assignment

	lastHeartbeat  time.Time
	revokeDeadline time.Time // in memberUnrevoked: fenced after this
	dirty          bool      // changed since its record was last written
}

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat request in Go types.
// Nil fields mean "unchanged since the last heartbeat", as on the wire.
type ConsumerHeartbeatRequest struct {
	Group, MemberID      string
	MemberEpoch          int32
	InstanceID, RackID   *string
	RebalanceTimeout     time.Duration // negative: unchanged
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	ServerAssignor       *string
	// Topics are the partitions the member owns; nil means unchanged.
	Topics               []TopicPartitions
	ClientID, ClientHost string
}

// ConsumerHeartbeatResult is a ConsumerGroupHeartbeat response. Assignment
// is nil when the member's assignment is unchanged and the request was not
// a full one.
type ConsumerHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	Assignment        []TopicPartitions
}

// isFull reports whether the request carries the member's whole state, so
// that the response must carry the whole assignment (Kafka's
// isFullRequest).
func (r *ConsumerHeartbeatRequest) isFull() bool {
	return r.RebalanceTimeout >= 0 && (r.SubscribedTopicNames != nil || r.SubscribedTopicRegex != nil) && r.Topics != nil
}

// validate mirrors throwIfConsumerGroupHeartbeatRequestIsInvalid (v1).
func (r *ConsumerHeartbeatRequest) validate(cfg *Config) error {
	switch {
	case r.Group == "":
		return fmt.Errorf("%w: empty group id", ErrInvalidGroupID)
	case r.MemberID == "":
		return fmt.Errorf("%w: MemberId can't be empty", ErrInvalidRequest)
	case r.InstanceID != nil && *r.InstanceID == "":
		return fmt.Errorf("%w: InstanceId can't be empty", ErrInvalidRequest)
	case r.RackID != nil && *r.RackID == "":
		return fmt.Errorf("%w: RackId can't be empty", ErrInvalidRequest)
	case r.MemberEpoch < epochLeaveStatic:
		return fmt.Errorf("%w: MemberEpoch %d is invalid", ErrInvalidRequest, r.MemberEpoch)
	case r.MemberEpoch == epochLeaveStatic && r.InstanceID == nil:
		return fmt.Errorf("%w: InstanceId can't be null when leaving with epoch -2", ErrInvalidRequest)
	}
	if r.MemberEpoch == epochJoin {
		switch {
		case r.RebalanceTimeout < 0:
			return fmt.Errorf("%w: RebalanceTimeoutMs must be provided in first request", ErrInvalidRequest)
		case r.SubscribedTopicNames == nil && r.SubscribedTopicRegex == nil:
			return fmt.Errorf("%w: SubscribedTopicNames or SubscribedTopicRegex must be set in first request", ErrInvalidRequest)
		case r.Topics == nil || len(r.Topics) > 0:
			return fmt.Errorf("%w: TopicPartitions must be empty when (re-)joining", ErrInvalidRequest)
		}
	}
	if r.ServerAssignor != nil && !slices.Contains(cfg.ConsumerAssignors, *r.ServerAssignor) {
		return fmt.Errorf("%w: %q", ErrUnsupportedAssignor, *r.ServerAssignor)
	}
	if r.SubscribedTopicRegex != nil && *r.SubscribedTopicRegex != "" {
		if _, err := regexp.Compile(*r.SubscribedTopicRegex); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRegex, err)
		}
	}
	return nil
}

// consumerHeartbeat serves one ConsumerGroupHeartbeat.
func (s *shard) consumerHeartbeat(now time.Time, eff *effects, req ConsumerHeartbeatRequest, reply func(ConsumerHeartbeatResult)) error {
	cfg := &s.c.cfg
	if !cfg.ConsumerProtocol {
		return ErrUnsupportedVersion
	}
	if err := req.validate(cfg); err != nil {
		return err
	}
	g := s.groups[req.Group]
	if g != nil && g.consumer == nil {
		if len(g.members) > 0 || len(g.pending) > 0 {
			return fmt.Errorf("%w: group %s is a classic group with members", ErrGroupNotFound, req.Group)
		}
		g.toConsumer(now, eff) // an empty classic group (or offsets only) becomes a consumer group
	}
	if req.MemberEpoch == epochLeave || req.MemberEpoch == epochLeaveStatic {
		if g == nil {
			return ErrUnknownMember
		}
		return g.consumerLeave(now, cfg, eff, req, reply)
	}
	if g == nil {
		if req.MemberEpoch != epochJoin {
			return fmt.Errorf("%w: consumer group %s not found", ErrGroupNotFound, req.Group)
		}
		g = s.groupLocked(req.Group, now)
		g.toConsumer(now, eff)
	}
	cg := g.consumer
	m, created, err := g.consumerMember(now, cfg, eff, req)
	if err != nil {
		s.maybeForgetLocked(g)
		return err
	}
	bump := m.update(req) || created
	m.lastHeartbeat = now
	if h := cg.subscriptionHash(cfg.Topics); h != cg.metaHash {
		cg.metaHash, bump = h, true
	}
	if bump { // one new epoch for everything this heartbeat changed
		g.bumpEpoch()
	}
	g.maybeUpdateTarget(cfg)
	before := m.assigned.clone()
	beforeEpoch := m.epoch
	g.reconcile(m, req.Topics, now)
	g.updateConsumerState(now)
	g.writeConsumer(eff)

	r := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: cfg.ConsumerHeartbeatInterval}
	if req.MemberEpoch == epochJoin || req.isFull() || beforeEpoch != m.epoch || !before.equal(m.assigned) {
		r.Assignment = m.assigned.list()
	}
	eff.reply(func(err error) {
		if err != nil {
			r = ConsumerHeartbeatResult{Err: ErrNotCoordinator}
		}
		reply(r)
	})
	return nil
}

// toConsumer makes g a consumer group, keeping its offsets. A classic
// group's metadata record is deleted.
func (g *Group) toConsumer(now time.Time, eff *effects) {
	if g.generation > 0 || g.protocolType != "" {
		eff.record(groupTombstone(g.id))
	}
	g.consumer = newConsumerGroup()
	g.protocolType, g.protocol, g.leader, g.generation = "consumer", "", "", 0
	g.setState(Empty, now)
}

// toClassic makes an empty consumer group classic again, keeping its
// offsets (KIP-848's downgrade of an empty group).
func (g *Group) toClassic(now time.Time, eff *effects) {
	eff.record(consumerGroupTombstone(g.id))
	g.consumer = nil
	g.protocolType = ""
	g.setState(Empty, now)
}

// consumerMember finds or creates the member a (non-leave) heartbeat is
// from, checking its epoch.
func (g *Group) consumerMember(now time.Time, cfg *Config, eff *effects, req ConsumerHeartbeatRequest) (m *cmember, created bool, err error) {
	cg := g.consumer
	if req.MemberEpoch == epochJoin {
		if req.InstanceID != nil {
			if old := cg.byInstance(*req.InstanceID); old != nil && old.id != req.MemberID {
				if old.epoch != epochLeaveStatic {
					return nil, false, fmt.Errorf("%w: %s", ErrUnreleasedInstanceID, *req.InstanceID)
				}
				// A static member back within its session: it takes over the
				// old member's epoch and assignment, no rebalance (KIP-848).
				nm := *old
				nm.id = req.MemberID
				nm.epoch, nm.prevEpoch = old.prevEpoch, old.prevEpoch
				nm.dirty = true
				cg.removeMember(old, eff, g.id)
				cg.addMember(&nm)
				return &nm, false, nil
			}
		}
		if m := cg.members[req.MemberID]; m != nil {
			return m, false, nil // a rejoin (e.g. after a lost response): its assignment is re-sent
		}
		if len(cg.members) >= cfg.ConsumerMaxSize {
			return nil, false, ErrGroupMaxSize
		}
		m := &cmember{
			id: req.MemberID, assigned: make(partSet), revoking: make(partSet), target: make(partSet),
			lastHeartbeat: now, dirty: true,
		}
		cg.addMember(m)
		return m, true, nil
	}
	m = cg.members[req.MemberID]
	if m == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrUnknownMember, req.MemberID)
	}
	if req.InstanceID != nil && m.instanceID != *req.InstanceID {
		return nil, false, fmt.Errorf("%w: member %s has instance id %q", ErrFencedInstanceID, m.id, m.instanceID)
	}
	switch {
	case req.MemberEpoch == m.epoch:
	case req.MemberEpoch == m.prevEpoch && req.Topics != nil && setOf(req.Topics).subsetOf(m.assigned.union(m.revoking)):
		// The member missed the response that moved it on (Kafka accepts
		// the previous epoch if what it owns is still its own).
	default:
		return nil, false, fmt.Errorf("%w: member %s sent epoch %d, its epoch is %d", ErrFencedMemberEpoch, m.id, req.MemberEpoch, m.epoch)
	}
	return m, false, nil
}

func (s partSet) subsetOf(o partSet) bool {
	for p := range s {
		if !o.has(p) {
			return false
		}
	}
	return true
}

func (s partSet) union(o partSet) partSet {
	u := s.clone()
	for p := range o {
		u[p] = struct{}{}
	}
	return u
}

// update applies the request's non-nil fields; it reports whether the
// subscription changed (which needs a new target assignment).
func (m *cmember) update(req ConsumerHeartbeatRequest) bool {
	changed := false
	if req.InstanceID != nil && m.instanceID != *req.InstanceID {
		m.instanceID, m.dirty = *req.InstanceID, true
	}
	if req.RackID != nil && m.rackID != *req.RackID {
		m.rackID, m.dirty = *req.RackID, true
	}
	if req.RebalanceTimeout >= 0 && m.rebalanceTimeout != req.RebalanceTimeout {
		m.rebalanceTimeout, m.dirty = req.RebalanceTimeout, true
	}
	if req.ClientID != m.clientID || req.ClientHost != m.clientHost {
		m.clientID, m.clientHost, m.dirty = req.ClientID, req.ClientHost, true
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, changed = *req.SubscribedTopicRegex, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if changed {
		m.dirty = true
	}
	return changed
}

func (cg *consumerGroup) byInstance(id string) *cmember {
	for _, m := range cg.members {
		if m.instanceID == id {
			return m
		}
	}
	return nil
}

func (cg *consumerGroup) addMember(m *cmember) {
	cg.members[m.id] = m
	for p := range m.assigned {
		cg.owners[p] = m.id
	}
	for p := range m.revoking {
		cg.owners[p] = m.id
	}
}

// removeMember drops m, frees its partitions and deletes its record.
func (cg *consumerGroup) removeMember(m *cmember, eff *effects, group string) {
	delete(cg.members, m.id)
	for p, o := range cg.owners {
		if o == m.id {
			delete(cg.owners, p)
		}
	}
	eff.record(consumerMemberTombstone(group, m.id))
}

func (g *Group) bumpEpoch() { g.consumer.epoch++ }

// consumerLeave serves a heartbeat with epoch -1 (leave) or -2 (a static
// member leaves for now, keeping its assignment until its session ends).
func (g *Group) consumerLeave(now time.Time, cfg *Config, eff *effects, req ConsumerHeartbeatRequest, reply func(ConsumerHeartbeatResult)) error {
	cg := g.consumer
	m := cg.members[req.MemberID]
	if m == nil && req.InstanceID != nil {
		m = cg.byInstance(*req.InstanceID)
		if m != nil && m.id != req.MemberID {
			return fmt.Errorf("%w: instance %s belongs to member %s", ErrFencedInstanceID, *req.InstanceID, m.id)
		}
	}
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMember, req.MemberID)
	}
	if req.MemberEpoch == epochLeaveStatic {
		if m.epoch != epochLeaveStatic {
			m.prevEpoch = m.epoch
		}
		m.epoch, m.lastHeartbeat, m.dirty = epochLeaveStatic, now, true
	} else {
		cg.removeMember(m, eff, g.id)
		g.bumpEpoch()
		g.maybeUpdateTarget(cfg)
	}
	g.updateConsumerState(now)
	g.writeConsumer(eff)
	r := ConsumerHeartbeatResult{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, HeartbeatInterval: cfg.ConsumerHeartbeatInterval}
	eff.reply(func(err error) {
		if err != nil {
			r = ConsumerHeartbeatResult{Err: ErrNotCoordinator}
		}
		reply(r)
	})
	return nil
}

// subscribed returns the topics m subscribes to that exist, sorted by name.
func (m *cmember) subscribed(topics Topics, names []string) []TopicInfo {
	if topics == nil {
		return nil
	}
	seen := make(map[string]bool)
	var out []TopicInfo
	add := func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		if t, ok := topics.Topic(n); ok {
			out = append(out, t)
		}
	}
	for _, n := range m.topics {
		add(n)
	}
	if m.regex != "" {
		// The broker matches the whole name (Kafka uses RE2J's matches()).
		if re, err := regexp.Compile("^(?:" + m.regex + ")$"); err == nil {
			for _, n := range names {
				if re.MatchString(n) {
					add(n)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// subscriptionHash hashes the ids and partition counts of every topic the
// members subscribe to: a change means a new target assignment is due
// (Kafka's metadata hash, KIP-1101).
func (cg *consumerGroup) subscriptionHash(topics Topics) uint64 {
	var names []string
	if topics != nil && cg.anyRegex() {
		names = topics.Names()
	}
	all := make(map[[16]byte]int32)
	for _, m := range cg.members {
		for _, t := range m.subscribed(topics, names) {
			all[t.ID] = t.Partitions
		}
	}
	ids := make([][16]byte, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	h := uint64(14695981039346656037) // FNV-1a
	mix := func(b byte) { h = (h ^ uint64(b)) * 1099511628211 }
	for _, id := range ids {
		for _, b := range id {
			mix(b)
		}
		n := all[id]
		mix(byte(n >> 24))
		mix(byte(n >> 16))
		mix(byte(n >> 8))
		mix(byte(n))
	}
	return h
}

func (cg *consumerGroup) anyRegex() bool {
	for _, m := range cg.members {
		if m.regex != "" {
			return true
		}
	}
	return false
}

// assignorName is the assignor the group uses: the one most members ask
// for, else the first configured (Kafka's ConsumerGroup.preferredServerAssignor).
func (cg *consumerGroup) assignorName(cfg *Config) string {
	votes := make(map[string]int)
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := cfg.ConsumerAssignors[0]
	for _, a := range cfg.ConsumerAssignors {
		if votes[a] > votes[best] {
			best = a
		}
	}
	return best
}

// maybeUpdateTarget computes a new target assignment when the group epoch
// has moved past the assignment epoch.
func (g *Group) maybeUpdateTarget(cfg *Config) {
	cg := g.consumer
	if cg.epoch <= cg.assignmentEpoch {
		return
	}
	var names []string
	if cfg.Topics != nil && cg.anyRegex() {
		names = cfg.Topics.Names()
	}
	ms := make([]assignMember, 0, len(cg.members))
	for _, m := range cg.members {
		ms = append(ms, assignMember{id: m.id, topics: m.subscribed(cfg.Topics, names), previous: m.target})
	}
	a := assignorByName(cg.assignorName(cfg))
	if a == nil {
		panic("BUG: configured assignor unknown after validation")
	}
	target := a.assign(ms)
	for id, m := range cg.members {
		t := target[id]
		if t == nil {
			t = make(partSet)
		}
		if !t.equal(m.target) {
			m.target, m.dirty = t, true
		}
	}
	cg.assignmentEpoch = cg.epoch
}

// reconcile moves m towards its target (Kafka's CurrentAssignmentBuilder).
// owned is what the member says it owns, nil when it did not say.
func (g *Group) reconcile(m *cmember, owned []TopicPartitions, now time.Time) {
	cg := g.consumer
	if m.epoch == epochLeaveStatic {
		return
	}
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		if owned == nil {
			return
		}
		o := setOf(owned)
		for p := range m.revoking {
			if o.has(p) {
				return // still revoking
			}
		}
		for p := range m.revoking {
			if cg.owners[p] == m.id {
				delete(cg.owners, p)
			}
		}
		m.revoking = make(partSet)
		m.dirty = true
	case memberUnreleased:
	}
	g.nextAssignment(m, now)
}

// nextAssignment computes m's next state from its target
// (CurrentAssignmentBuilder.computeNextAssignment).
func (g *Group) nextAssignment(m *cmember, now time.Time) {
	cg := g.consumer
	keep := make(partSet)
	revoke := make(partSet)
	for p := range m.assigned {
		if m.target.has(p) {
			keep[p] = struct{}{}
		} else {
			revoke[p] = struct{}{}
		}
	}
	m.dirty = true
	if len(revoke) > 0 {
		// Give up first; the epoch stays until the member confirms.
		m.assigned, m.revoking = keep, revoke
		m.state = memberUnrevoked
		m.revokeDeadline = now.Add(m.rebalanceTimeout)
		return
	}
	unreleased := false
	for p := range m.target {
		if keep.has(p) {
			continue
		}
		if o, ok := cg.owners[p]; ok && o != m.id {
			unreleased = true
			continue
		}
		keep[p] = struct{}{}
		cg.owners[p] = m.id
	}
	m.assigned = keep
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

// updateConsumerState sets the group state from its members
// (ConsumerGroup.maybeUpdateGroupState).
func (g *Group) updateConsumerState(now time.Time) {
	cg := g.consumer
	st := Stable
	switch {
	case len(cg.members) == 0:
		st = Empty
	case cg.epoch > cg.assignmentEpoch:
		st = Assigning
	default:
		for _, m := range cg.members {
			if m.epoch != epochLeaveStatic && (m.epoch != cg.assignmentEpoch || m.state != memberStable) {
				st = Reconciling
				break
			}
		}
	}
	if st != g.state {
		g.setState(st, now)
	}
}

// writeConsumer records the group epochs and every member changed since the
// last write.
func (g *Group) writeConsumer(eff *effects) {
	cg := g.consumer
	w := written{cg.epoch, cg.assignmentEpoch, cg.metaHash, g.stateTime}
	if w != cg.written {
		eff.record(consumerGroupRecord(g.id, cg, g.stateTime))
		cg.written = w
	}
	for _, m := range g.sortedConsumerMembers() {
		if m.dirty {
			eff.record(consumerMemberRecord(g.id, m))
			m.dirty = false
		}
	}
}

func (g *Group) sortedConsumerMembers() []*cmember {
	ms := make([]*cmember, 0, len(g.consumer.members))
	for _, m := range g.consumer.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// consumerTick removes members whose session ended (static members that
// left included) and fences members that took longer than their rebalance
// timeout to revoke.
func (g *Group) consumerTick(now time.Time, cfg *Config, eff *effects) {
	cg := g.consumer
	removed := false
	for _, m := range g.sortedConsumerMembers() {
		expired := !now.Before(m.lastHeartbeat.Add(cfg.ConsumerSessionTimeout))
		slow := m.state == memberUnrevoked && m.epoch != epochLeaveStatic && !now.Before(m.revokeDeadline)
		if expired || slow {
			cg.removeMember(m, eff, g.id)
			removed = true
		}
	}
	if !removed {
		return
	}
	g.bumpEpoch()
	g.maybeUpdateTarget(cfg)
	g.updateConsumerState(now)
	g.writeConsumer(eff)
}

// validateConsumerCommit checks an offset commit to a consumer group
// (ConsumerGroup.validateOffsetCommit): a commit from outside the group
// (no member id, epoch < 0) is accepted only while it has no members.
func (g *Group) validateConsumerCommit(req CommitRequest, now time.Time) error {
	cg := g.consumer
	if req.MemberID == "" && req.Generation < 0 {
		if len(cg.members) == 0 {
			return nil
		}
		return fmt.Errorf("%w: group %s has members", ErrUnknownMember, g.id)
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMember, req.MemberID)
	}
	if req.Generation > m.epoch {
		return fmt.Errorf("%w: commit epoch %d above member epoch %d", ErrFencedMemberEpoch, req.Generation, m.epoch)
	}
	if req.Generation < m.epoch && req.Generation != m.prevEpoch {
		return fmt.Errorf("%w: commit epoch %d, member epoch %d", ErrStaleMemberEpoch, req.Generation, m.epoch)
	}
	return nil
}

// ConsumerGroupSummary describes a consumer group for ConsumerGroupDescribe.
type ConsumerGroupSummary struct {
	Group           string
	State           State
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberSummary
}

// ConsumerMemberSummary is one member in a ConsumerGroupSummary.
type ConsumerMemberSummary struct {
	MemberID, InstanceID, RackID, ClientID, ClientHost string
	MemberEpoch                                        int32
	SubscribedTopicNames                               []string
	SubscribedTopicRegex                               string
	Assignment, TargetAssignment                       []TopicPartitions
}

func (g *Group) consumerSummary(cfg *Config) ConsumerGroupSummary {
	cg := g.consumer
	s := ConsumerGroupSummary{Group: g.id, State: g.state, Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignorName(cfg)}
	for _, m := range g.sortedConsumerMembers() {
		s.Members = append(s.Members, ConsumerMemberSummary{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
			MemberEpoch: m.epoch, SubscribedTopicNames: slices.Clone(m.topics), SubscribedTopicRegex: m.regex,
			Assignment: m.assigned.list(), TargetAssignment: m.target.list(),
		})
	}
	return s
}
