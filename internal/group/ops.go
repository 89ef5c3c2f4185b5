package group

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinRequest is a JoinGroup request in Go types.
type JoinRequest struct {
	Group, MemberID, InstanceID string
	ClientID, ClientHost        string
	ProtocolType                string
	Protocols                   []Protocol
	SessionTimeout              time.Duration
	RebalanceTimeout            time.Duration
	// RequireKnownMemberID is set from JoinGroup v4 on (KIP-394): a new
	// dynamic member first gets MEMBER_ID_REQUIRED with its id.
	RequireKnownMemberID bool
	// SkipAssignmentOK is set from JoinGroup v9 on (KIP-814).
	SkipAssignmentOK bool
}

// MemberMetadata is a member as the leader sees it in the JoinGroup response.
type MemberMetadata struct {
	MemberID, InstanceID string
	Metadata             []byte
}

// JoinResult is a JoinGroup response. With Err == ErrMemberIDRequired,
// MemberID is the id to rejoin with.
type JoinResult struct {
	Err            error
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	MemberID       string
	SkipAssignment bool
	Members        []MemberMetadata // the leader's only
}

func (s *shard) join(now time.Time, eff *effects, req JoinRequest, reply func(JoinResult)) error {
	cfg := &s.c.cfg
	if req.Group == "" {
		return ErrInvalidGroupID
	}
	if req.SessionTimeout < cfg.MinSessionTimeout || req.SessionTimeout > cfg.MaxSessionTimeout {
		return ErrInvalidSessionTimeout
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout // JoinGroup v0
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return ErrUnknownMember
		}
		g = s.groupLocked(req.Group, now)
	}
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			return fmt.Errorf("%w: group %s is a consumer group with members", ErrInconsistentProtocol, g.id)
		}
		g.toClassic(now, eff)
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		s.maybeForgetLocked(g)
		return ErrInconsistentProtocol
	}
	if req.MemberID == "" {
		return g.joinUnknown(now, cfg, eff, req, reply)
	}
	return g.joinKnown(now, cfg, eff, req, reply)
}

// joinUnknown serves a JoinGroup without a member id
// (GroupCoordinator.doNewMemberJoinGroup / doStaticMemberJoinGroup).
func (g *Group) joinUnknown(now time.Time, cfg *Config, eff *effects, req JoinRequest, reply func(JoinResult)) error {
	if req.InstanceID != "" {
		if oldID, ok := g.static[req.InstanceID]; ok {
			return g.replaceStatic(now, cfg, eff, g.members[oldID], req, reply)
		}
	}
	if g.size() >= cfg.MaxSize {
		return ErrGroupMaxSize
	}
	id := cfg.NewMemberID(req.ClientID)
	if req.RequireKnownMemberID && req.InstanceID == "" {
		g.pending[id] = now.Add(req.SessionTimeout)
		eff.joinReply(reply, JoinResult{Err: ErrMemberIDRequired, MemberID: id})
		return nil
	}
	g.addAndRebalance(now, cfg, eff, id, req, reply)
	return nil
}

func (g *Group) addAndRebalance(now time.Time, cfg *Config, eff *effects, id string, req JoinRequest, reply func(JoinResult)) {
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         req.ClientID,
		clientHost:       req.ClientHost,
		sessionTimeout:   req.SessionTimeout,
		rebalanceTimeout: req.RebalanceTimeout,
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
		lastHeartbeat:    now,
		join:             reply,
	}
	g.addMember(m)
	g.newMemberAdded = true
	if g.state != PreparingRebalance {
		g.prepareRebalance(now, cfg, eff)
	}
	g.maybeCompleteJoin(now, cfg, eff)
}

// replaceStatic gives a static member that restarted (it knows its
// group.instance.id but not its member id) a new member id, fencing the old
// one (KIP-345). A stable group does not rebalance when the member's
// protocols are unchanged: it gets the current generation back and its old
// assignment in SyncGroup.
func (g *Group) replaceStatic(now time.Time, cfg *Config, eff *effects, old *member, req JoinRequest, reply func(JoinResult)) error {
	if old.join != nil {
		eff.joinReply(old.join, JoinResult{Err: ErrFencedInstanceID, MemberID: old.id})
		old.join = nil
	}
	if old.sync != nil {
		f := old.sync
		eff.reply(func(error) { f(SyncResult{Err: ErrFencedInstanceID}) })
		old.sync = nil
	}
	newID := cfg.NewMemberID(req.ClientID)
	m := *old
	m.id = newID
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.lastHeartbeat = now
	delete(g.members, old.id)
	g.members[newID] = &m
	g.static[req.InstanceID] = newID
	if g.leader == old.id {
		g.leader = newID
	}
	switch g.state {
	case Stable:
		// Kafka (GroupCoordinator.doStaticMemberJoinGroup): a static member
		// that joins a stable group rebalances it only if it would change the
		// selected protocol; new metadata (a restarted cooperative member's
		// subscription no longer lists owned partitions) is just stored.
		m.protocols = req.Protocols
		if g.selectProtocol() == g.protocol || sameProtocols(old.protocols, req.Protocols) {
			r := g.joinResult(newID)
			if newID == g.leader && req.SkipAssignmentOK {
				r.SkipAssignment = true
				for _, o := range g.sortedMembers() {
					r.Members = append(r.Members, MemberMetadata{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadata(g.protocol)})
				}
			}
			// Persist the new member id so the old one stays fenced after a
			// restart (GroupCoordinator.updateStaticMemberAndRebalance).
			eff.record(g.groupRecord())
			eff.reply(func(err error) {
				if err != nil {
					r = JoinResult{Err: ErrNotCoordinator}
				}
				reply(r)
			})
			return nil
		}
		m.protocols = req.Protocols
		m.join = reply
		g.prepareRebalance(now, cfg, eff)
	case CompletingRebalance:
		m.protocols = req.Protocols
		m.join = reply
		g.prepareRebalance(now, cfg, eff)
	default: // PreparingRebalance
		m.protocols = req.Protocols
		m.join = reply
	}
	g.maybeCompleteJoin(now, cfg, eff)
	return nil
}

// joinKnown serves a JoinGroup from a member that has an id
// (GroupCoordinator.doCurrentMemberJoinGroup).
func (g *Group) joinKnown(now time.Time, cfg *Config, eff *effects, req JoinRequest, reply func(JoinResult)) error {
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		g.addAndRebalance(now, cfg, eff, req.MemberID, req, reply)
		return nil
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID)
	if err != nil {
		return err
	}
	update := func() {
		if m.join != nil {
			eff.joinReply(m.join, JoinResult{Err: ErrRebalanceInProgress, MemberID: m.id})
		}
		m.protocols = req.Protocols
		m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
		m.lastHeartbeat = now
		m.join = reply
	}
	current := func() {
		r := g.joinResult(m.id)
		if m.id == g.leader {
			for _, o := range g.sortedMembers() {
				r.Members = append(r.Members, MemberMetadata{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadata(g.protocol)})
			}
		}
		m.lastHeartbeat = now
		eff.joinReply(reply, r)
	}
	switch g.state {
	case PreparingRebalance:
		update()
		g.maybeCompleteJoin(now, cfg, eff)
	case CompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			current() // a retried JoinGroup whose response was lost
			return nil
		}
		update()
		g.prepareRebalance(now, cfg, eff)
		g.maybeCompleteJoin(now, cfg, eff)
	case Stable:
		if m.id != g.leader && sameProtocols(m.protocols, req.Protocols) {
			current()
			return nil
		}
		// The leader rejoining, or a changed subscription, starts a
		// rebalance (so that a leader can force one, e.g. on new topics).
		update()
		g.prepareRebalance(now, cfg, eff)
		g.maybeCompleteJoin(now, cfg, eff)
	default:
		return ErrUnknownMember
	}
	return nil
}

// checkMember finds a member by id, fencing a static member whose instance
// id now belongs to another member id.
func (g *Group) checkMember(memberID, instanceID string) (*member, error) {
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != memberID {
			return nil, ErrFencedInstanceID
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, ErrUnknownMember
	}
	return m, nil
}

// SyncRequest is a SyncGroup request in Go types.
type SyncRequest struct {
	Group, MemberID, InstanceID string
	Generation                  int32
	ProtocolType, Protocol      string            // v5+, "" when absent
	Assignments                 map[string][]byte // the leader's, by member id
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

func (s *shard) sync(now time.Time, eff *effects, req SyncRequest, reply func(SyncResult)) error {
	g := s.groups[req.Group]
	if g == nil {
		return ErrUnknownMember
	}
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID)
	if err != nil {
		return err
	}
	if req.Generation != g.generation {
		return ErrIllegalGeneration
	}
	if (req.ProtocolType != "" && req.ProtocolType != g.protocolType) || (req.Protocol != "" && req.Protocol != g.protocol) {
		return ErrInconsistentProtocol
	}
	m.lastHeartbeat = now
	switch g.state {
	case PreparingRebalance:
		return ErrRebalanceInProgress
	case Stable:
		r := SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
		eff.reply(func(error) { reply(r) })
		return nil
	case CompletingRebalance:
	default:
		return ErrUnknownMember
	}
	if m.sync != nil {
		f := m.sync
		eff.reply(func(error) { f(SyncResult{Err: ErrRebalanceInProgress}) })
	}
	m.sync = reply
	if m.id != g.leader {
		return nil
	}
	for _, o := range g.members {
		o.assignment = req.Assignments[o.id] // members the leader left out get nothing
	}
	g.setState(Stable, now)
	eff.record(g.groupRecord())
	for _, o := range g.members {
		if o.sync == nil {
			continue
		}
		f := o.sync
		r := SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: o.assignment}
		eff.reply(func(err error) {
			if err != nil {
				r = SyncResult{Err: ErrNotCoordinator}
			}
			f(r)
		})
		o.sync = nil
	}
	return nil
}

// HeartbeatRequest is a Heartbeat request in Go types.
type HeartbeatRequest struct {
	Group, MemberID, InstanceID string
	Generation                  int32
}

func (s *shard) heartbeat(now time.Time, req HeartbeatRequest) error {
	g := s.groups[req.Group]
	if g == nil {
		return ErrUnknownMember
	}
	switch g.state {
	case Dead:
		return ErrCoordinatorNotAvailable
	case Empty:
		return ErrUnknownMember
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID)
	if err != nil {
		return err
	}
	if req.Generation != g.generation {
		return ErrIllegalGeneration
	}
	m.lastHeartbeat = now
	if g.state == PreparingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// LeaveMember is one member leaving (LeaveGroup v3+ batches them).
type LeaveMember struct {
	MemberID, InstanceID string
}

// leave removes members; it returns one error per member, in order.
func (s *shard) leave(now time.Time, eff *effects, group string, leaving []LeaveMember) ([]error, error) {
	g := s.groups[group]
	errs := make([]error, len(leaving))
	if g == nil {
		for i := range errs {
			errs[i] = ErrUnknownMember
		}
		return errs, nil
	}
	if g.state == Dead {
		return nil, ErrCoordinatorNotAvailable
	}
	removed := false
	for i, l := range leaving {
		id := l.MemberID
		if l.InstanceID != "" {
			cur, ok := g.static[l.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMember
				continue
			case id != "" && id != cur:
				errs[i] = ErrFencedInstanceID
				continue
			}
			id = cur
		}
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			removed = true
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = ErrUnknownMember
			continue
		}
		g.removeMember(m, eff)
		removed = true
	}
	if removed {
		g.updateAfterRemoval(now, &s.c.cfg, eff)
	}
	return errs, nil
}

// CommitRequest is an OffsetCommit request in Go types. Generation -1 with
// no member id is a commit from outside the group (admin tools, simple
// consumers); it is accepted only while the group has no members.
type CommitRequest struct {
	Group, MemberID, InstanceID string
	Generation                  int32
	Offsets                     map[TopicPartition]Offset
}

// commit validates and applies a commit; the reply goes out once its records
// are durable. It returns a top-level error, or nil and one error per
// partition through reply (GroupCoordinator.handleCommitOffsets).
func (s *shard) commit(now time.Time, eff *effects, req CommitRequest, reply func(map[TopicPartition]error)) error {
	if req.Group == "" {
		return ErrInvalidGroupID
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return ErrIllegalGeneration
		}
		g = s.groupLocked(req.Group, now) // a group that only stores offsets
	}
	switch {
	case g.state == Dead:
		return ErrCoordinatorNotAvailable
	case g.consumer != nil:
		if err := g.validateConsumerCommit(req, now); err != nil {
			return err
		}
	case req.Generation < 0 && req.MemberID == "" && g.state == Empty:
		// A commit from outside the group.
	case g.state == CompletingRebalance:
		return ErrRebalanceInProgress
	default:
		m, err := g.checkMember(req.MemberID, req.InstanceID)
		if err != nil {
			return err
		}
		if req.Generation != g.generation {
			return ErrIllegalGeneration
		}
		m.lastHeartbeat = now
	}
	errs := make(map[TopicPartition]error, len(req.Offsets))
	for tp, o := range req.Offsets {
		if len(o.Metadata) > s.c.cfg.OffsetMetadataMaxBytes {
			errs[tp] = ErrMetadataTooLarge
			continue
		}
		o.CommitTime = now
		g.offsets[tp] = o
		s.supersedeTxnLocked(g.id, tp)
		eff.record(offsetRecord(g.id, tp, o))
		errs[tp] = nil
	}
	eff.reply(func(err error) {
		if err != nil {
			for tp, e := range errs {
				if e == nil {
					errs[tp] = ErrNotCoordinator
				}
			}
		}
		reply(errs)
	})
	return nil
}

// fetchOffsets returns the committed offsets of group for the partitions
// asked, or all when topics is nil. Partitions without a commit are absent.
func (s *shard) fetchOffsets(group string, topics map[string][]int32) map[TopicPartition]Offset {
	g := s.groups[group]
	out := make(map[TopicPartition]Offset)
	if g == nil {
		return out
	}
	if topics == nil {
		for tp, o := range g.offsets {
			out[tp] = o
		}
		return out
	}
	for t, ps := range topics {
		for _, p := range ps {
			tp := TopicPartition{Topic: t, Partition: p}
			if o, ok := g.offsets[tp]; ok {
				out[tp] = o
			}
		}
	}
	return out
}

// deleteGroup removes an empty group and all its offsets.
func (s *shard) deleteGroup(now time.Time, eff *effects, group string) error {
	g := s.groups[group]
	if g == nil || g.state == Dead {
		return ErrGroupNotFound
	}
	if g.state != Empty {
		return ErrNonEmptyGroup
	}
	for tp := range g.offsets {
		eff.record(offsetTombstone(g.id, tp))
	}
	eff.record(groupTombstone(g.id))
	if g.consumer != nil {
		eff.record(consumerGroupTombstone(g.id))
	}
	g.setState(Dead, now)
	delete(s.groups, group)
	return nil
}

// deleteOffsets removes committed offsets of partitions the group does not
// consume (OffsetDelete, KIP-496).
func (s *shard) deleteOffsets(eff *effects, group string, tps []TopicPartition) (map[TopicPartition]error, error) {
	g := s.groups[group]
	if g == nil || g.state == Dead {
		return nil, ErrGroupNotFound
	}
	errs := make(map[TopicPartition]error, len(tps))
	subscribed := g.subscribedTopics(s.c.cfg.Topics)
	for _, tp := range tps {
		if g.state != Empty && (subscribed == nil || subscribed[tp.Topic]) {
			errs[tp] = ErrSubscribedToTopic
			continue
		}
		errs[tp] = nil
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			eff.record(offsetTombstone(g.id, tp))
		}
	}
	s.maybeForgetLocked(g)
	return errs, nil
}

// subscribedTopics returns the topics the members subscribe to, read from
// the consumer protocol's metadata; nil when unknown (another protocol type,
// or undecodable metadata), which Kafka treats as subscribed to everything.
func (g *Group) subscribedTopics(topics Topics) map[string]bool {
	if g.consumer != nil {
		var names []string
		if topics != nil && g.consumer.anyRegex() {
			names = topics.Names()
		}
		subs := make(map[string]bool)
		for _, m := range g.consumer.members {
			for _, n := range m.topics {
				subs[n] = true
			}
			for _, t := range m.subscribed(topics, names) {
				subs[t.Name] = true
			}
		}
		return subs
	}
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil
	}
	subs := make(map[string]bool)
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			subs[t] = true
		}
	}
	return subs
}

// expireOffsets deletes offsets past retention (GroupMetadataManager
// .cleanupGroupMetadata, KIP-211): for an empty group with a protocol type,
// all its offsets once it has been empty for the retention; for a group that
// only stores offsets, each offset once its commit is that old. A group left
// empty with no offsets is deleted.
func (s *shard) expireOffsets(now time.Time, eff *effects) {
	retention := s.c.cfg.OffsetsRetention
	for _, g := range s.sortedGroups() {
		if g.state != Empty {
			continue
		}
		for tp, o := range g.offsets {
			base := o.CommitTime
			if g.protocolType != "" {
				base = g.stateTime
			}
			if !now.Before(base.Add(retention)) {
				delete(g.offsets, tp)
				eff.record(offsetTombstone(g.id, tp))
			}
		}
		if len(g.offsets) == 0 && !now.Before(g.stateTime.Add(retention)) {
			eff.record(groupTombstone(g.id))
			g.setState(Dead, now)
			delete(s.groups, g.id)
		}
	}
}

// Summary describes a group for DescribeGroups.
type Summary struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string
	Members      []MemberSummary
}

// MemberSummary is one member in a Summary. Metadata and Assignment are set
// only in the Stable state, as in Kafka.
type MemberSummary struct {
	MemberID, InstanceID, ClientID, ClientHost string
	Metadata, Assignment                       []byte
}

func (g *Group) summary() Summary {
	s := Summary{Group: g.id, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol}
	for _, m := range g.sortedMembers() {
		ms := MemberSummary{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable {
			ms.Metadata, ms.Assignment = m.metadata(g.protocol), m.assignment
		}
		s.Members = append(s.Members, ms)
	}
	return s
}

// Listing is one group in ListGroups.
type Listing struct {
	Group        string
	ProtocolType string
	State        State
	Type         string // "classic" or "consumer" (KIP-848)
}

func (s *shard) sortedGroups() []*Group {
	gs := make([]*Group, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *Group) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return gs
}
