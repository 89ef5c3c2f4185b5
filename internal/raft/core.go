package raft

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Entry data envelope. Every normal entry proposed through the driver, and
// the Context of every membership change, is
//
//	kind     byte    envelopeV1
//	proposer uvarint node id that proposed it
//	seq      uvarint the proposer's request number
//	payload  []byte  the application's data (normal entries only)
//
// so that the proposer can recognise its own entry when it is applied and
// answer Propose with its index. Leaders' empty no-op entries carry nothing.
const envelopeV1 byte = 1

func appendEnvelope(dst []byte, proposer, seq uint64, payload []byte) []byte {
	dst = append(dst, envelopeV1)
	dst = binary.AppendUvarint(dst, proposer)
	dst = binary.AppendUvarint(dst, seq)
	return append(dst, payload...)
}

func decodeEnvelope(b []byte) (proposer, seq uint64, payload []byte, ok bool) {
	if len(b) == 0 || b[0] != envelopeV1 {
		return 0, 0, nil, false
	}
	b = b[1:]
	proposer, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, false
	}
	b = b[n:]
	seq, n = binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, nil, false
	}
	return proposer, seq, b[n:], true
}

// completion is called on the node's goroutine when a request finishes.
type completion func(index uint64, err error)

type waitKind uint8

const (
	waitPropose waitKind = iota
	waitConf
	waitReadState // waiting for raft to confirm a read index
	waitReadApply // waiting for the applied index to reach index
	waitTransfer
)

type waiter struct {
	kind  waitKind
	index uint64 // waitReadApply: the read index; waitTransfer: the transferee
	done  completion
}

// core is the single-threaded heart of a Node: a raft.RawNode, its storage,
// and the requests waiting on it. Every method must be called from one
// goroutine at a time (Node.Run's, or a simulation's). It never blocks on the
// network: Transport.Send must not block.
type core struct {
	cfg       Config
	id        uint64
	rn        *raft.RawNode
	st        *storage
	logger    *slog.Logger
	confState *raftpb.ConfState
	applied   uint64
	snapIndex uint64 // index of the last snapshot taken or restored

	lead      uint64
	term      uint64
	state     raft.StateType
	seq       uint64             // last request number handed out
	waiters   map[uint64]*waiter // by seq
	confSeq   uint64             // seq of this node's pending membership change, 0 if none
	transfers int                // waiters of kind waitTransfer
	readApply []uint64           // seqs of waitReadApply waiters, by ascending index
	snapTo    []uint64           // peers sent a MsgSnap in the current Ready
	buf       []byte
	status    Status
	statusOK  bool
	fatal     error // a storage failure outside handleReady; stops the node
	snapNow   bool  // a member was added: snapshot at the end of this Ready
}

// newCore opens storage and builds the raft node. It calls cfg.Restore if
// the directory holds a snapshot.
func newCore(cfg Config) (*core, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := openStorage(cfg.FS, cfg.Dir, cfg.bootConfState(), cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("raft: open %s: %w", cfg.Dir, err)
	}
	c := &core{cfg: cfg, id: cfg.ID, st: st, logger: cfg.Logger, waiters: make(map[uint64]*waiter)}
	// Request numbers start at a random point so that entries and read
	// responses of an earlier incarnation of this node, still in flight or
	// in the log, never match this incarnation's requests.
	var r [8]byte
	_, _ = crand.Read(r[:])
	c.seq = binary.LittleEndian.Uint64(r[:]) >> 2
	_, cs, _ := st.InitialState()
	c.confState = proto.Clone(cs).(*raftpb.ConfState)
	if st.snap != nil {
		md := st.snap.GetMetadata()
		if err := cfg.Restore(md.GetIndex(), st.snap.GetData()); err != nil {
			st.close()
			return nil, fmt.Errorf("raft: restore snapshot %d: %w", md.GetIndex(), err)
		}
		c.applied, c.snapIndex = md.GetIndex(), md.GetIndex()
	}
	rc := &raft.Config{
		ID:                          cfg.ID,
		ElectionTick:                cfg.ElectionTicks,
		HeartbeatTick:               cfg.HeartbeatTicks,
		Storage:                     st,
		Applied:                     c.applied,
		MaxSizePerMsg:               cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:    4 * cfg.MaxSizePerMsg,
		MaxUncommittedEntriesSize:   64 * cfg.MaxSizePerMsg,
		MaxInflightMsgs:             cfg.MaxInflightMsgs,
		CheckQuorum:                 true,
		PreVote:                     true,
		ReadOnlyOption:              raft.ReadOnlySafe,
		DisableProposalForwarding:   true,
		DisableConfChangeValidation: true, // we serialise and validate membership changes ourselves
		StepDownOnRemoval:           true,
		Logger:                      &raftLogger{l: cfg.Logger.With("raft_id", cfg.ID)},
	}
	c.rn, err = raft.NewRawNode(rc)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("raft: new node: %w", err)
	}
	c.refreshStatus()
	return c, nil
}

func (c *core) close() error { return c.st.close() }

func (c *core) tick() {
	c.rn.Tick()
	if c.transfers > 0 {
		bs := c.rn.BasicStatus()
		if bs.RaftState == raft.StateLeader && bs.LeadTransferee == 0 {
			c.failTransfers(ErrTransferAborted)
		}
	}
}

// step hands an inbound message to raft. Errors are the sender's problem
// (stale or unknown peers) and are not reported.
func (c *core) step(m *raftpb.Message) {
	if raft.IsLocalMsg(m.GetType()) {
		return // never accept local message types from the network
	}
	_ = c.rn.Step(m)
}

func (c *core) reportUnreachable(id uint64) { c.rn.ReportUnreachable(id) }

func (c *core) add(w *waiter) (uint64, bool) {
	if len(c.waiters) >= c.cfg.MaxPending {
		w.done(0, ErrBusy)
		return 0, false
	}
	c.seq++
	c.waiters[c.seq] = w
	return c.seq, true
}

func (c *core) isLeader() bool { return c.state == raft.StateLeader }

func (c *core) notLeader() error { return &NotLeaderError{Leader: c.lead} }

// propose proposes data; done gets the entry's index once it is applied here.
func (c *core) propose(data []byte, done completion) uint64 {
	if !c.isLeader() {
		done(0, c.notLeader())
		return 0
	}
	seq, ok := c.add(&waiter{kind: waitPropose, done: done})
	if !ok {
		return 0
	}
	c.buf = appendEnvelope(c.buf[:0], c.id, seq, data)
	if err := c.rn.Propose(slices.Clone(c.buf)); err != nil {
		delete(c.waiters, seq)
		done(0, fmt.Errorf("raft: propose: %w", err))
		return 0
	}
	return seq
}

// readIndex asks for a linearizable read point; done gets an index such
// that the local state, once applied up to it (which is awaited), reflects
// every write committed before the call.
func (c *core) readIndex(done completion) uint64 {
	if c.lead == raft.None {
		done(0, c.notLeader())
		return 0
	}
	seq, ok := c.add(&waiter{kind: waitReadState, done: done})
	if !ok {
		return 0
	}
	c.rn.ReadIndex(binary.BigEndian.AppendUint64(nil, seq))
	return seq
}

// changeMembership proposes a single-node membership change.
func (c *core) changeMembership(typ raftpb.ConfChangeType, id uint64, done completion) uint64 {
	if !c.isLeader() {
		done(0, c.notLeader())
		return 0
	}
	if c.confSeq != 0 {
		done(0, ErrConfChangeInProgress)
		return 0
	}
	isVoter := slices.Contains(c.confState.GetVoters(), id) || slices.Contains(c.confState.GetVotersOutgoing(), id)
	switch {
	case id == 0:
		done(0, fmt.Errorf("%w: node id 0", ErrInvalidConfChange))
		return 0
	case typ == raftpb.ConfChangeAddLearnerNode && isVoter:
		done(0, fmt.Errorf("%w: node %d is a voter", ErrInvalidConfChange, id))
		return 0
	case typ == raftpb.ConfChangeRemoveNode && isVoter:
		done(0, fmt.Errorf("%w: removing voter %d (voters come from the static quorum config)", ErrInvalidConfChange, id))
		return 0
	}
	seq, ok := c.add(&waiter{kind: waitConf, done: done})
	if !ok {
		return 0
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: typ.Enum(), NodeId: proto.Uint64(id)}},
		Context: appendEnvelope(nil, c.id, seq, nil),
	}
	if err := c.rn.ProposeConfChange(cc); err != nil {
		delete(c.waiters, seq)
		done(0, fmt.Errorf("raft: propose membership change: %w", err))
		return 0
	}
	c.confSeq = seq
	return seq
}

// transferLeadership asks raft to hand leadership to id; done is called
// once this node sees id as leader.
func (c *core) transferLeadership(id uint64, done completion) uint64 {
	if !c.isLeader() {
		done(0, c.notLeader())
		return 0
	}
	if id == c.id {
		done(0, nil)
		return 0
	}
	seq, ok := c.add(&waiter{kind: waitTransfer, index: id, done: done})
	if !ok {
		return 0
	}
	c.transfers++
	c.rn.TransferLeader(id)
	return seq
}

// cancel forgets a request whose caller stopped waiting.
func (c *core) cancel(seq uint64) {
	w, ok := c.waiters[seq]
	if !ok {
		return
	}
	delete(c.waiters, seq)
	if w.kind == waitTransfer {
		c.transfers--
	}
	if seq == c.confSeq {
		// The change may still be applied; a new one may be proposed once
		// this one is out of the log's uncommitted tail, which the next
		// leader's no-op guarantees. Keep confSeq until it applies or
		// leadership is lost.
		c.waiters[seq] = &waiter{kind: waitConf, done: func(uint64, error) {}}
	}
}

func (c *core) finish(seq, index uint64, err error) {
	w, ok := c.waiters[seq]
	if !ok {
		return
	}
	c.finishWaiter(seq, w, index, err)
}

// finishKind finishes seq only if it waits for kind (an applied entry names
// the request it came from; never let it finish a different request).
func (c *core) finishKind(seq uint64, kind waitKind, index uint64) {
	if w, ok := c.waiters[seq]; ok && w.kind == kind {
		c.finishWaiter(seq, w, index, nil)
	}
}

func (c *core) finishWaiter(seq uint64, w *waiter, index uint64, err error) {
	delete(c.waiters, seq)
	if w.kind == waitTransfer {
		c.transfers--
	}
	if seq == c.confSeq {
		c.confSeq = 0
	}
	w.done(index, err)
}

func (c *core) failTransfers(err error) {
	for _, seq := range c.sortedSeqs() {
		if c.waiters[seq].kind == waitTransfer {
			c.finish(seq, 0, err)
		}
	}
}

func (c *core) sortedSeqs() []uint64 {
	seqs := make([]uint64, 0, len(c.waiters))
	for s := range c.waiters {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	return seqs
}

// failAll fails every request (the node stops).
func (c *core) failAll(err error) {
	for _, seq := range c.sortedSeqs() {
		c.finish(seq, 0, err)
	}
	c.readApply = c.readApply[:0]
}

// maxReadiesPerCall bounds the work of one handleReady call so that a node
// with a long backlog still answers its other inputs.
const maxReadiesPerCall = 64

// handleReady runs raft's Ready loop: persist (and sync) the snapshot,
// entries and hard state; only then send messages; apply committed entries;
// Advance. An error means storage failed: the node must stop (raft's state
// and the disk may disagree).
func (c *core) handleReady() error {
	if c.fatal != nil {
		return c.fatal
	}
	did := false
	for i := 0; i < maxReadiesPerCall && c.rn.HasReady(); i++ {
		did = true
		rd := c.rn.Ready()
		if err := c.st.save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
			return err
		}
		c.send(rd.Messages)
		if !raft.IsEmptySnap(rd.Snapshot) {
			md := rd.Snapshot.GetMetadata()
			if err := c.cfg.Restore(md.GetIndex(), rd.Snapshot.GetData()); err != nil {
				return fmt.Errorf("raft: restore snapshot %d: %w", md.GetIndex(), err)
			}
			c.confState = proto.Clone(md.GetConfState()).(*raftpb.ConfState)
			c.applied, c.snapIndex = md.GetIndex(), md.GetIndex()
		}
		for _, rs := range rd.ReadStates {
			c.onReadState(rs)
		}
		for _, e := range rd.CommittedEntries {
			if err := c.apply(e); err != nil {
				return err
			}
		}
		c.rn.Advance(rd)
		for _, id := range c.snapTo {
			// The snapshot went out whole in one message; if it is lost, the
			// follower's rejections bring the leader back here.
			c.rn.ReportSnapshot(id, raft.SnapshotFinish)
		}
		c.snapTo = c.snapTo[:0]
		c.onStateChange()
		c.finishReads()
		if err := c.maybeSnapshot(); err != nil {
			return err
		}
	}
	if did {
		c.refreshStatus()
	}
	return nil
}

func (c *core) send(msgs []*raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			c.snapTo = append(c.snapTo, m.GetTo())
		}
	}
	c.cfg.Transport.Send(msgs)
}

func (c *core) apply(e *raftpb.Entry) error {
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) > 0 {
			proposer, seq, payload, ok := decodeEnvelope(e.GetData())
			if !ok {
				return fmt.Errorf("%w: entry %d has no envelope", ErrCorrupt, e.GetIndex())
			}
			c.cfg.Apply(e.GetIndex(), payload)
			if proposer == c.id {
				c.finishKind(seq, waitPropose, e.GetIndex())
			}
		}
	case raftpb.EntryConfChange:
		cc := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return fmt.Errorf("%w: entry %d: decode conf change: %w", ErrCorrupt, e.GetIndex(), err)
		}
		c.confState = c.rn.ApplyConfChange(cc)
		c.snapNow = true
	case raftpb.EntryConfChangeV2:
		cc := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return fmt.Errorf("%w: entry %d: decode conf change: %w", ErrCorrupt, e.GetIndex(), err)
		}
		c.confState = c.rn.ApplyConfChange(cc)
		c.snapNow = true
		if proposer, seq, _, ok := decodeEnvelope(cc.GetContext()); ok && proposer == c.id {
			c.finishKind(seq, waitConf, e.GetIndex())
		}
	}
	if e.GetIndex() <= c.applied {
		panic(fmt.Sprintf("BUG: raft: applied index went from %d to %d", c.applied, e.GetIndex()))
	}
	c.applied = e.GetIndex()
	return nil
}

func (c *core) onReadState(rs raft.ReadState) {
	if len(rs.RequestCtx) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(rs.RequestCtx)
	w, ok := c.waiters[seq]
	if !ok || w.kind != waitReadState {
		return
	}
	w.kind, w.index = waitReadApply, rs.Index
	c.readApply = append(c.readApply, seq)
}

func (c *core) finishReads() {
	keep := c.readApply[:0]
	for _, seq := range c.readApply {
		w := c.waiters[seq]
		switch {
		case w == nil || w.kind != waitReadApply:
			// cancelled
		case w.index <= c.applied:
			c.finish(seq, w.index, nil)
		default:
			keep = append(keep, seq)
		}
	}
	c.readApply = keep
}

// onStateChange notices leader and term changes and fails the requests
// that cannot complete any more.
func (c *core) onStateChange() {
	bs := c.rn.BasicStatus()
	wasLeader := c.isLeader()
	changed := bs.Lead != c.lead || bs.GetTerm() != c.term
	c.lead, c.term, c.state = bs.Lead, bs.GetTerm(), bs.RaftState
	if !changed && wasLeader == c.isLeader() {
		return
	}
	for _, seq := range c.sortedSeqs() {
		w := c.waiters[seq]
		switch {
		case w.kind == waitReadState:
			// raft drops read requests across leader changes.
			c.finish(seq, 0, c.notLeader())
		case (w.kind == waitPropose || w.kind == waitConf) && wasLeader && !c.isLeader():
			c.finish(seq, 0, &NotLeaderError{Leader: c.lead, Indeterminate: true})
		case w.kind == waitTransfer && c.lead == w.index:
			c.finish(seq, 0, nil)
		case w.kind == waitTransfer && !c.isLeader() && c.lead != 0:
			// Someone else won; while no leader is known, keep waiting.
			c.finish(seq, 0, &NotLeaderError{Leader: c.lead})
		}
	}
}

// maybeSnapshot snapshots every SnapshotEntries entries, and after every
// membership change: raft refuses a snapshot whose configuration does not
// name the receiver, so a new learner whose log must start from a snapshot
// needs one taken after it was added.
func (c *core) maybeSnapshot() error {
	if !c.snapNow && c.applied < c.snapIndex+c.cfg.SnapshotEntries {
		return nil
	}
	c.snapNow = false
	return c.snapshotNow()
}

// snapshotNow snapshots the application at the applied index and compacts.
func (c *core) snapshotNow() error {
	if c.applied <= c.snapIndex {
		return nil
	}
	data, err := c.cfg.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: application snapshot at %d: %w", c.applied, err)
	}
	cs := proto.Clone(c.confState).(*raftpb.ConfState)
	if err := c.st.compact(c.applied, cs, data, c.cfg.CatchUpEntries); err != nil {
		return fmt.Errorf("raft: snapshot at %d: %w", c.applied, err)
	}
	c.snapIndex = c.applied
	return nil
}

func (c *core) refreshStatus() {
	st := c.rn.Status()
	s := Status{
		ID:       c.id,
		Leader:   st.Lead,
		Term:     st.GetTerm(),
		Vote:     st.GetVote(),
		Role:     roleName(st.RaftState),
		Commit:   st.GetCommit(),
		Applied:  c.applied,
		Voters:   slices.Clone(c.confState.GetVoters()),
		Learners: slices.Clone(c.confState.GetLearners()),
	}
	s.LastIndex, _ = c.st.LastIndex()
	s.SnapshotIndex = c.snapIndex
	if len(st.Progress) > 0 {
		s.Progress = make(map[uint64]Progress, len(st.Progress))
		for id, pr := range st.Progress {
			s.Progress[id] = Progress{Match: pr.Match, Next: pr.Next, Learner: pr.IsLearner, RecentActive: pr.RecentActive}
		}
	}
	c.status, c.statusOK = s, true
}

func roleName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

// raftLogger adapts slog to raft.Logger; raft's Info is chatty, so it goes
// to Debug.
type raftLogger struct{ l *slog.Logger }

func (r *raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r *raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r *raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r *raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r *raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r *raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r *raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r *raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r *raftLogger) Fatal(v ...any)                 { panic("BUG: raft: " + fmt.Sprint(v...)) }
func (r *raftLogger) Fatalf(format string, v ...any) {
	panic("BUG: raft: " + fmt.Sprintf(format, v...))
}
func (r *raftLogger) Panic(v ...any) { panic("BUG: raft: " + fmt.Sprint(v...)) }
func (r *raftLogger) Panicf(format string, v ...any) {
	panic("BUG: raft: " + fmt.Sprintf(format, v...))
}
