package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/coordinator"
)

// Storage opens the partitions of __transaction_state. OpenPartition
// creates the topic if it does not exist yet and returns the partition's
// log and its leader epoch, which is the coordinator epoch stamped on
// markers.
type Storage interface {
	OpenPartition(ctx context.Context, partition int32) (coordinator.Log, int32, error)
}

// IDs hands out producer ids that are never reused (FileIDs).
type IDs interface {
	Next() (int64, error)
}

// MarkerRequest asks for one commit or abort marker per partition.
type MarkerRequest struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// Markers writes transaction markers to partition leaders. On a single
// node the broker appends them to its own logs; with replication it will
// send WriteTxnMarkers. A nil error for a partition means the marker is
// durable, or the partition no longer exists (nothing to mark).
type Markers interface {
	WriteMarkers(ctx context.Context, m MarkerRequest) map[TopicPartition]error
}

// Offset is a committed offset of a TxnOffsetCommit.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// Offsets is the group coordinator as the transaction coordinator needs it.
type Offsets interface {
	// CommitTxnOffsets checks the member and generation of a
	// TxnOffsetCommit (no check for an empty member and generation < 0)
	// and writes the offsets durably to the group's partition of the
	// offsets topic as a transactional batch of the producer. They become
	// visible when the transaction's commit marker is written there (the
	// partition is one of the transaction's, added by AddOffsets).
	CommitTxnOffsets(ctx context.Context, req TxnCommitRequest) error
}

// Coordinator is the transaction coordinator of one broker. Its methods are
// safe for concurrent use and bounded by ctx.
type Coordinator struct {
	cfg     Config
	clock   clock.Clock
	storage Storage
	ids     IDs
	markers Markers
	offsets Offsets
	log     *slog.Logger
	shards  *coordinator.Shards[*shard]

	mu         sync.Mutex
	lastExpiry time.Time // guarded by mu: the last look for idle transactional ids

	// runMu guards runCtx: Run's context while Run runs, nil otherwise.
	// EndTxn starts a marker writer (completeAsync) only while it is set;
	// Run clears it, then joins the writers (writers).
	runMu   sync.Mutex
	runCtx  context.Context
	writers sync.WaitGroup
}

// New returns a coordinator. It starts nothing: Run drives timeouts and
// the completion of transactions whose markers are not written yet.
func New(cfg Config, clk clock.Clock, storage Storage, ids IDs, markers Markers, offsets Offsets, logger *slog.Logger) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.Real
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, clock: clk, storage: storage, ids: ids, markers: markers, offsets: offsets, log: logger}
	c.shards = coordinator.NewShards(TopicName, cfg.NumPartitions, func() *shard { return &shard{c: c} })
	return c, nil
}

// Config returns the validated configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// PartitionFor returns the partition of __transaction_state owning id.
func (c *Coordinator) PartitionFor(id string) int32 {
	return c.shards.PartitionFor(id)
}

// shard is one partition of __transaction_state.
//
// The Slot's lock guards everything below. A transition appends its record
// under the lock, marks the transaction pending, and waits for durability
// with the lock released; the in-memory state changes only once the record
// is durable (Kafka's prepareTransition/completeTransitionTo). Marker
// writes also run with the lock released, the transaction marked
// completing.
type shard struct {
	coordinator.Slot
	c *Coordinator

	coordEpoch int32
	txns       map[string]*txnMeta // nil until loaded
}

// LoadPartition loads the shard of partition p of __transaction_state, as
// Kafka does when this broker becomes the partition's leader.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32) error {
	return c.shards.Load(ctx, p)
}

// Load makes sure the shard owning id is loaded (FindCoordinator).
func (c *Coordinator) Load(ctx context.Context, id string) error {
	return c.shards.Load(ctx, c.PartitionFor(id))
}

// lockedShard returns the shard owning id, locked and loaded. On error it
// is unlocked again.
func (c *Coordinator) lockedShard(ctx context.Context, id string) (*shard, error) {
	s := c.shards.For(id)
	s.Lock()
	if err := s.LoadLocked(ctx); err != nil {
		s.Unlock()
		return nil, err
	}
	return s, nil
}

// lockedProducer returns the shard owning id, locked and loaded, and id's
// transaction once checkProducer accepts the producer pid at epoch. On error
// the shard is unlocked again.
func (c *Coordinator) lockedProducer(ctx context.Context, id string, pid int64, epoch int16) (*shard, *txnMeta, error) {
	if id == "" {
		return nil, nil, fmt.Errorf("%w: empty transactional id", ErrInvalidRequest)
	}
	s, err := c.lockedShard(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	t := s.txns[id]
	if err := checkProducer(t, pid, epoch); err != nil {
		s.Unlock()
		return nil, nil, err
	}
	return s, t, nil
}

// Load implements coordinator.Shard: it opens the partition, whose leader
// epoch is the coordinator epoch of the markers, and replays it.
func (s *shard) Load(ctx context.Context) (coordinator.Log, error) {
	l, epoch, err := s.c.storage.OpenPartition(ctx, s.Partition())
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	txns := make(map[string]*txnMeta)
	err = l.Replay(ctx, func(off int64, r coordinator.Record) error {
		id, t, err := decodeTxnRecord(r)
		if err != nil {
			return fmt.Errorf("offset %d: %w", off, err)
		}
		if t == nil {
			delete(txns, id)
		} else {
			txns[id] = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	s.coordEpoch, s.txns = epoch, txns
	return l, nil
}

// Unload implements coordinator.Shard.
func (s *shard) Unload() { s.txns = nil }

// durableWait bounds a durability wait that must not be cut short by a
// client going away: an abandoned wait would unload the shard.
const durableWait = 30 * time.Second

// transition appends rec, waits until it is durable and then calls apply.
// t is marked pending meanwhile. The shard must be locked; it is unlocked
// during the wait and locked again on return. On failure the shard is unloaded (the
// next request replays the log) and ErrNotCoordinator returned.
func (s *shard) transition(ctx context.Context, t *txnMeta, rec coordinator.Record, apply func()) error {
	log := s.Log()
	off, err := log.Append([]coordinator.Record{rec})
	if err != nil {
		s.UnloadLocked()
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	t.pending = true
	s.Unlock()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), durableWait)
	err = log.WaitDurable(wctx, off)
	cancel()
	s.Lock()
	t.pending = false
	if s.Log() != log {
		return fmt.Errorf("%w: %s-%d reloaded", ErrNotCoordinator, TopicName, s.Partition())
	}
	if err != nil {
		s.c.log.Warn("transaction state write failed", "partition", s.Partition(), "err", err)
		s.UnloadLocked()
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	apply()
	return nil
}

// checkProducerLocked is the common check of a producer's requests.
func checkProducer(t *txnMeta, pid int64, epoch int16) error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: unknown transactional id", ErrInvalidMapping)
	case pid != t.producerID:
		return fmt.Errorf("%w: producer id %d, transactional id %q has %d", ErrInvalidMapping, pid, t.id, t.producerID)
	case epoch != t.epoch:
		return fmt.Errorf("%w: epoch %d, current %d", ErrProducerFenced, epoch, t.epoch)
	case t.pending || t.completing:
		return ErrConcurrentTransactions
	}
	return nil
}

// InitRequest is an InitProducerId request.
type InitRequest struct {
	TransactionalID string // "" for an idempotent producer
	Timeout         time.Duration
	ProducerID      int64 // -1, or the producer's current id (KIP-360)
	Epoch           int16 // -1, or the producer's current epoch
}

// InitProducerID returns the producer id and epoch for a producer. Without
// a transactional id it allocates a fresh id (epoch 0). With one, it
// creates the id's metadata or bumps its epoch, fencing older producers
// and aborting their open transaction (TransactionCoordinator.handleInitProducerId).
func (c *Coordinator) InitProducerID(ctx context.Context, req InitRequest) (int64, int16, error) {
	if req.TransactionalID == "" {
		id, err := c.ids.Next()
		return id, 0, err
	}
	if req.Timeout <= 0 || req.Timeout > c.cfg.MaxTimeout {
		return -1, -1, fmt.Errorf("%w: %v, max %v", ErrInvalidTimeout, req.Timeout, c.cfg.MaxTimeout)
	}
	s := c.shards.For(req.TransactionalID)
	s.Lock()
	defer s.Unlock()
	for range 3 {
		if err := s.LoadLocked(ctx); err != nil {
			return -1, -1, err
		}
		now := c.clock.Now()
		t := s.txns[req.TransactionalID]
		if t == nil {
			pid, err := c.ids.Next()
			if err != nil {
				return -1, -1, err
			}
			nt := &txnMeta{
				id: req.TransactionalID, producerID: pid, prevID: -1, epoch: 0, lastEpoch: -1, timeout: req.Timeout,
				state: Empty, partitions: map[TopicPartition]bool{}, lastUpdate: now,
			}
			s.txns[nt.id] = nt
			err = s.transition(ctx, nt, txnRecord(nt, Empty, nil, time.Time{}, now), func() {})
			if err != nil {
				if s.txns != nil && s.txns[nt.id] == nt {
					delete(s.txns, nt.id)
				}
				return -1, -1, err
			}
			return nt.producerID, nt.epoch, nil
		}
		if t.pending || t.completing {
			return -1, -1, ErrConcurrentTransactions
		}
		if req.ProducerID >= 0 {
			switch {
			case req.ProducerID == t.prevID && t.state != Ongoing,
				req.ProducerID == t.producerID && req.Epoch == t.lastEpoch && t.state != Ongoing:
				// A retry of a bump that succeeded: the answer is the current id.
				return t.producerID, t.epoch, nil
			case req.ProducerID != t.producerID:
				return -1, -1, fmt.Errorf("%w: producer id %d, transactional id has %d", ErrInvalidMapping, req.ProducerID, t.producerID)
			case req.Epoch != t.epoch:
				return -1, -1, fmt.Errorf("%w: epoch %d, current %d", ErrProducerFenced, req.Epoch, t.epoch)
			}
		}
		switch t.state {
		case PrepareCommit, PrepareAbort, PrepareEpochFence:
			return -1, -1, ErrConcurrentTransactions
		case Ongoing:
			// Fence the previous producer: abort its transaction with a
			// bumped epoch, then bump again for the new one.
			if err := s.endLocked(ctx, t, false, true); err != nil {
				return -1, -1, err
			}
			if t.state != CompleteAbort {
				return -1, -1, ErrConcurrentTransactions
			}
			continue
		}
		nt := *t
		nt.lastEpoch = t.epoch
		if t.epoch >= math.MaxInt16-1 {
			id, err := c.ids.Next()
			if err != nil {
				return -1, -1, err
			}
			nt.prevID, nt.producerID, nt.epoch, nt.lastEpoch = t.producerID, id, 0, -1
		} else {
			nt.epoch++
		}
		nt.timeout, nt.state, nt.partitions, nt.start, nt.lastUpdate = req.Timeout, Empty, map[TopicPartition]bool{}, time.Time{}, now
		err := s.transition(ctx, t, txnRecord(&nt, Empty, nil, time.Time{}, now), func() { *t = nt })
		if err != nil {
			return -1, -1, err
		}
		return t.producerID, t.epoch, nil
	}
	return -1, -1, ErrConcurrentTransactions
}

// endLocked writes PrepareCommit/PrepareAbort for t (with a bumped epoch
// when fencing), then completes it: markers, offsets, Complete*. Once the
// Prepare record is durable the outcome is decided: a failure to complete
// is retried by Tick and does not fail the call. The shard must be locked.
func (s *shard) endLocked(ctx context.Context, t *txnMeta, commit, bump bool) error {
	if err := s.prepareLocked(ctx, t, commit, bump); err != nil {
		return err
	}
	s.completeLocked(context.WithoutCancel(ctx), t)
	return nil
}

// prepareLocked writes PrepareCommit/PrepareAbort for t (with a bumped
// epoch when fencing) and returns once it is durable: the outcome is
// decided. The shard must be locked.
func (s *shard) prepareLocked(ctx context.Context, t *txnMeta, commit, bump bool) error {
	now := s.c.clock.Now()
	nt := *t
	nt.state = PrepareAbort
	if commit {
		nt.state = PrepareCommit
	}
	if bump && t.epoch < math.MaxInt16-1 {
		nt.lastEpoch, nt.epoch = t.epoch, t.epoch+1
	}
	nt.lastUpdate = now
	parts := t.sortedPartitions()
	return s.transition(ctx, t, txnRecord(&nt, nt.state, parts, t.start, now), func() { *t = nt })
}

// completeLocked writes the markers and pending offsets of a transaction
// in a Prepare state and then its Complete state. It reports whether the
// transaction completed. ctx bounds the marker writes (at most
// durableWait). The shard must be locked; it is unlocked meanwhile.
func (s *shard) completeLocked(ctx context.Context, t *txnMeta) bool {
	commit := t.state == PrepareCommit
	if !commit && t.state != PrepareAbort {
		return false
	}
	c := s.c
	log := s.Log()
	t.completing = true
	// The offsets topic's partitions get their marker like any other: the
	// group coordinator applies or drops the transaction's offsets when it
	// sees it.
	req := MarkerRequest{
		ProducerID: t.producerID, ProducerEpoch: t.epoch, Commit: commit, CoordinatorEpoch: s.coordEpoch,
		Partitions: t.sortedPartitions(),
	}
	s.Unlock()
	ok := c.writeMarkers(ctx, req)
	s.Lock()
	t.completing = false
	if !ok || s.Log() != log {
		return false
	}
	now := c.clock.Now()
	nt := *t
	nt.state = CompleteAbort
	if commit {
		nt.state = CompleteCommit
	}
	nt.partitions, nt.start, nt.lastUpdate = map[TopicPartition]bool{}, time.Time{}, now
	if err := s.transition(ctx, t, txnRecord(&nt, nt.state, nil, time.Time{}, now), func() { *t = nt }); err != nil {
		return false
	}
	return true
}

// writeMarkers writes the markers, retrying failed partitions a few times
// for at most durableWait or until ctx is done.
func (c *Coordinator) writeMarkers(ctx context.Context, req MarkerRequest) bool {
	wctx, cancel := context.WithTimeout(ctx, durableWait)
	defer cancel()
	left := req.Partitions
	for attempt := 0; len(left) > 0; attempt++ {
		if attempt == c.cfg.MarkerRetries || wctx.Err() != nil {
			c.log.Warn("transaction markers not written; retrying later", "producer", req.ProducerID, "partitions", len(left))
			return false
		}
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 50 * time.Millisecond)
			select {
			case <-t.C:
			case <-wctx.Done():
			}
			t.Stop()
		}
		r := req
		r.Partitions = left
		errs := c.markers.WriteMarkers(wctx, r)
		var failed []TopicPartition
		for _, tp := range left {
			if err := errs[tp]; err != nil {
				c.log.Warn("write transaction marker", "topic", tp.Topic, "partition", tp.Partition, "producer", req.ProducerID, "err", err)
				failed = append(failed, tp)
			}
		}
		left = failed
	}
	return true
}

// AddPartitions adds partitions to the producer's transaction, starting it
// if none is open (AddPartitionsToTxn).
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) error {
	s, t, err := c.lockedProducer(ctx, id, pid, epoch)
	if err != nil {
		return err
	}
	defer s.Unlock()
	switch t.state {
	case PrepareCommit, PrepareAbort, PrepareEpochFence:
		return ErrConcurrentTransactions
	case Dead:
		return fmt.Errorf("%w: %s", ErrInvalidTxnState, t.state)
	}
	if t.state == Ongoing {
		all := true
		for _, tp := range parts {
			all = all && t.partitions[tp]
		}
		if all {
			return nil
		}
	}
	now := c.clock.Now()
	nt := *t
	nt.partitions = make(map[TopicPartition]bool, len(t.partitions)+len(parts))
	for tp := range t.partitions {
		nt.partitions[tp] = true
	}
	for _, tp := range parts {
		nt.partitions[tp] = true
	}
	if t.state != Ongoing {
		nt.start = now
	}
	nt.state, nt.lastUpdate = Ongoing, now
	return s.transition(ctx, t, txnRecord(&nt, Ongoing, nt.sortedPartitions(), nt.start, now), func() { *t = nt })
}

// OffsetsPartition returns the partition of the offsets topic that holds
// group's offsets.
func (c *Coordinator) OffsetsPartition(group string) TopicPartition {
	return TopicPartition{c.cfg.OffsetsTopic, coordinator.PartitionFor(group, c.cfg.OffsetsPartitions)}
}

// AddOffsets adds group's offsets partition to the transaction
// (AddOffsetsToTxn).
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) error {
	if group == "" {
		return fmt.Errorf("%w: empty group id", ErrInvalidRequest)
	}
	return c.AddPartitions(ctx, id, pid, epoch, []TopicPartition{c.OffsetsPartition(group)})
}

// Verify reports, per partition, whether the producer's open transaction
// includes it: KIP-890's verification, for AddPartitionsToTxn v4
// VerifyOnly and for transactional produce. nil means verified.
func (c *Coordinator) Verify(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition) (map[TopicPartition]error, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty transactional id", ErrInvalidRequest)
	}
	s, err := c.lockedShard(ctx, id)
	if err != nil {
		return nil, err
	}
	defer s.Unlock()
	t := s.txns[id]
	if err := checkProducer(t, pid, epoch); err != nil && !errors.Is(err, ErrConcurrentTransactions) {
		return nil, err
	}
	out := make(map[TopicPartition]error, len(parts))
	for _, tp := range parts {
		if t.state != Ongoing || !t.partitions[tp] {
			out[tp] = fmt.Errorf("%w: %s-%d not in the transaction (%s)", ErrInvalidTxnState, tp.Topic, tp.Partition, t.state)
		} else {
			out[tp] = nil
		}
	}
	return out, nil
}

// TxnCommitRequest is a TxnOffsetCommit.
type TxnCommitRequest struct {
	TransactionalID, Group string
	ProducerID             int64
	Epoch                  int16
	MemberID, InstanceID   string
	Generation             int32
	Offsets                map[TopicPartition]Offset
	// Guard is the verification guard of the group's offsets partition,
	// taken before the transaction was verified (KIP-890 part 1,
	// commitlog.Log.StartTxnVerification), or
	// commitlog.NoVerificationGuard. The offsets are refused with
	// commitlog.ErrInvalidTxnState if a marker of the producer reached the
	// partition after the verification.
	Guard commitlog.VerificationGuard
}

// CommitOffsets writes offsets of a transaction to the group's partition of
// the offsets topic (TxnOffsetCommit): they become visible to the group on
// commit and are dropped on abort. The transaction is marked pending
// meanwhile (EndTxn answers CONCURRENT_TRANSACTIONS), so that no marker can
// be written to the partition before the offsets, which would leave them
// in a transaction that never ends.
func (c *Coordinator) CommitOffsets(ctx context.Context, req TxnCommitRequest) error {
	if req.Group == "" || req.TransactionalID == "" {
		return fmt.Errorf("%w: empty group or transactional id", ErrInvalidRequest)
	}
	check := func(s *shard) error {
		t := s.txns[req.TransactionalID]
		if err := checkProducer(t, req.ProducerID, req.Epoch); err != nil {
			return err
		}
		if t.state != Ongoing || !t.partitions[c.OffsetsPartition(req.Group)] {
			return fmt.Errorf("%w: group %q not added to the transaction (%s)", ErrInvalidTxnState, req.Group, t.state)
		}
		return nil
	}
	if c.offsets == nil {
		return fmt.Errorf("%w: no group coordinator", ErrCoordinatorNotAvailable)
	}
	s, err := c.lockedShard(ctx, req.TransactionalID)
	if err != nil {
		return err
	}
	if err := check(s); err != nil {
		s.Unlock()
		return err
	}
	t := s.txns[req.TransactionalID]
	t.pending = true
	s.Unlock()
	err = c.offsets.CommitTxnOffsets(ctx, req)
	s.Lock()
	t.pending = false
	s.Unlock()
	return err
}

// CommitVerifiedOffsets writes the offsets of a transaction that another
// broker coordinates (TxnOffsetCommit at the group coordinator): the caller
// has verified with that broker that the producer's ongoing transaction
// includes the group's partition of the offsets topic (Kafka's
// KIP-890 verification of TxnOffsetCommit). Unlike CommitOffsets nothing
// marks the transaction pending meanwhile; instead req.Guard, taken on the
// offsets partition before the verification, makes the append fail with
// commitlog.ErrInvalidTxnState if a marker of the producer (its
// transaction ended, with or without an epoch bump) reached the partition
// after the verification.
func (c *Coordinator) CommitVerifiedOffsets(ctx context.Context, req TxnCommitRequest) error {
	if req.Group == "" || req.TransactionalID == "" {
		return fmt.Errorf("%w: empty group or transactional id", ErrInvalidRequest)
	}
	if c.offsets == nil {
		return fmt.Errorf("%w: no group coordinator", ErrCoordinatorNotAvailable)
	}
	return c.offsets.CommitTxnOffsets(ctx, req)
}

// EndTxn commits or aborts the producer's transaction. Once the decision
// (PrepareCommit/PrepareAbort) is durable the markers are written by a
// writer Run owns (completeAsync; by Tick when Run is not running or the
// writer failed), as Kafka's TransactionMarkerChannelManager does, and
// EndTxn answers when they are written or after Config.EndTxnMarkerWait,
// whichever comes first (Kafka answers at once; docs/adr/0010). Until
// Complete* is durable the producer's next AddPartitions, AddOffsets,
// InitProducerID and EndTxn get ErrConcurrentTransactions, and
// read_committed consumers wait for the last stable offset.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	s, t, err := c.lockedProducer(ctx, id, pid, epoch)
	if err != nil {
		return err
	}
	if t.state != Ongoing {
		defer s.Unlock()
		return endTxnAgain(t, commit)
	}
	if err := s.prepareLocked(ctx, t, commit, false); err != nil {
		s.Unlock()
		return err
	}
	done := c.completeAsync(s, id)
	s.Unlock()
	if done != nil && c.cfg.EndTxnMarkerWait > 0 {
		tm := time.NewTimer(c.cfg.EndTxnMarkerWait)
		select {
		case <-done:
		case <-tm.C:
		case <-ctx.Done():
		}
		tm.Stop()
	}
	return nil
}

// endTxnAgain answers an EndTxn for a transaction that is not Ongoing.
func endTxnAgain(t *txnMeta, commit bool) error {
	switch {
	case t.state == CompleteCommit && commit, t.state == CompleteAbort && !commit:
		return nil // a retry
	case t.state == PrepareCommit && commit, t.state == PrepareAbort && !commit:
		return ErrConcurrentTransactions
	case t.state == PrepareEpochFence:
		return ErrProducerFenced
	}
	return fmt.Errorf("%w: end (commit=%v) in state %s", ErrInvalidTxnState, commit, t.state)
}

// completeAsync starts a writer of the markers of transaction id, which is
// in a Prepare state (Kafka's TransactionMarkerChannelManager), if Run is
// running, and returns a channel closed when the writer is done (nil
// without Run: Tick completes the transaction). Writers are bounded by the
// transactions in a Prepare state (one writer each: completing). The
// shard must be locked (the writer waits for it).
func (c *Coordinator) completeAsync(s *shard, id string) <-chan struct{} {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	ctx := c.runCtx
	if ctx == nil {
		return nil
	}
	done := make(chan struct{})
	c.writers.Add(1)
	go func() {
		defer c.writers.Done()
		defer close(done)
		s.Lock()
		defer s.Unlock()
		t := s.txns[id] // nil, or another txnMeta after a reload
		if s.Log() == nil || t == nil || t.pending || t.completing {
			return
		}
		s.completeLocked(ctx, t)
	}()
	return done
}

// Tick completes transactions whose markers are not written (after a
// failure or a load), aborts transactions past their timeout (fencing the
// producer with an epoch bump, as Kafka does) and forgets transactional ids
// idle past transactional.id.expiration.ms. Run calls it; tests call it on
// a fake clock.
func (c *Coordinator) Tick(ctx context.Context) {
	c.mu.Lock()
	now := c.clock.Now()
	expire := now.Sub(c.lastExpiry) >= c.cfg.IDExpirationCheck
	if expire {
		c.lastExpiry = now
	}
	c.mu.Unlock()
	for _, s := range c.shards.Loaded() {
		if ctx.Err() != nil {
			return
		}
		s.tick(ctx, expire)
	}
}

func (s *shard) tick(ctx context.Context, expire bool) {
	s.Lock()
	defer s.Unlock()
	if s.Log() == nil {
		return
	}
	if coordinator.Current(s.Log()) != nil {
		s.UnloadLocked() // the partition moved away
		return
	}
	ids := make([]string, 0, len(s.txns))
	for id := range s.txns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if s.Log() == nil || ctx.Err() != nil {
			return
		}
		t := s.txns[id]
		if t == nil || t.pending || t.completing {
			continue
		}
		now := s.c.clock.Now()
		switch t.state {
		case PrepareCommit, PrepareAbort:
			s.completeLocked(ctx, t)
		case Ongoing:
			if now.Sub(t.start) > t.timeout {
				s.c.log.Info("aborting timed-out transaction", "transactional_id", id, "producer", t.producerID, "epoch", t.epoch)
				_ = s.endLocked(ctx, t, false, true)
			}
		case Empty, CompleteCommit, CompleteAbort:
			if expire && now.Sub(t.lastUpdate) > s.c.cfg.IDExpiration {
				err := s.transition(ctx, t, coordinator.Record{Key: txnKey(id)}, func() { delete(s.txns, id) })
				if err != nil {
					return
				}
			}
		}
	}
}

// Local is implemented by a Storage that can list the partitions of
// __transaction_state this broker has a log for, without creating the
// topic.
type Local interface {
	LocalPartitions() []int32
}

// Run loads the partitions of __transaction_state this broker has (as
// Kafka loads the partitions it leads), so that transactions a crash left
// in a Prepare state are completed and open ones time out even if their
// producer never returns; then it calls Tick until ctx is done. While it
// runs, EndTxn hands the markers to writers it owns; it waits for them
// before returning.
func (c *Coordinator) Run(ctx context.Context) error {
	if l, ok := c.storage.(Local); ok {
		for _, p := range l.LocalPartitions() {
			if err := c.shards.Load(ctx, p); err != nil && ctx.Err() == nil {
				c.log.Warn("load transaction state", "partition", p, "err", err)
			}
		}
	}
	c.runMu.Lock()
	c.runCtx = ctx
	c.runMu.Unlock()
	coordinator.Every(ctx, min(c.cfg.AbortCheckInterval, time.Second), c.Tick)
	c.runMu.Lock()
	c.runCtx = nil
	c.runMu.Unlock()
	c.writers.Wait()
	return nil
}

// Description describes a transaction (DescribeTransactions,
// ListTransactions).
type Description struct {
	TransactionalID string
	State           State
	ProducerID      int64
	Epoch           int16
	Timeout         time.Duration
	Start           time.Time // zero: no open transaction
	LastUpdate      time.Time
	Partitions      []TopicPartition
}

func (t *txnMeta) describe() Description {
	return Description{
		TransactionalID: t.id, State: t.state, ProducerID: t.producerID, Epoch: t.epoch, Timeout: t.timeout,
		Start: t.start, LastUpdate: t.lastUpdate, Partitions: t.sortedPartitions(),
	}
}

// Describe describes one transactional id; ok is false if it is unknown.
func (c *Coordinator) Describe(ctx context.Context, id string) (Description, bool, error) {
	s, err := c.lockedShard(ctx, id)
	if err != nil {
		return Description{}, false, err
	}
	defer s.Unlock()
	t := s.txns[id]
	if t == nil {
		return Description{}, false, nil
	}
	return t.describe(), true, nil
}

// List describes every transaction of every partition, loading them all.
// A partition that fails to load is reported in the error.
func (c *Coordinator) List(ctx context.Context) ([]Description, error) {
	var out []Description
	err := c.shards.Each(ctx, func(s *shard) {
		for _, t := range s.txns {
			out = append(out, t.describe())
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, err
}
