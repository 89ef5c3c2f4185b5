package commitlog

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/kavka-io/kavka/internal/record"
)

// Errors of idempotent and transactional appends (AppendProducer,
// AppendMarker). The handler maps them to Kafka's codes.
var (
	// ErrOutOfOrderSequence: the batch's base sequence does not follow the
	// producer's last sequence (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("commitlog: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than the
	// producer's current epoch on this partition (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("commitlog: invalid producer epoch")
	// ErrInvalidTxnState: a non-transactional batch from a producer with an
	// open transaction, or a transactional batch the coordinator does not
	// know about (KIP-890) (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("commitlog: invalid transaction state")
	// ErrCoordinatorFenced: a marker from an older transaction coordinator
	// epoch (TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("commitlog: transaction coordinator fenced")
)

// Defaults of the producer state.
const (
	// maxBatchesPerProducer is how many batches' metadata a producer keeps
	// for duplicate detection: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
	// which matches max.in.flight.requests.per.connection ≤ 5.
	maxBatchesPerProducer = 5
	// DefaultProducerIDExpiration is producer.id.expiration.ms (1 day).
	DefaultProducerIDExpiration = 24 * time.Hour
	// producerExpirationCheck is producer.id.expiration.check.interval.ms.
	producerExpirationCheck = 10 * time.Minute
)

// batchMeta is what a producer remembers of one appended batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64
}

// producerEntry is one producer's state on one partition. Mirrors Kafka's
// ProducerStateEntry.
type producerEntry struct {
	id               int64
	epoch            int16
	batches          []batchMeta // oldest first, at most maxBatchesPerProducer
	lastTimestamp    int64       // of the last batch or marker, ms
	coordinatorEpoch int32       // of the last marker, -1 none
	txnFirstOffset   int64       // first offset of the open transaction, -1 none
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// AbortedTxn is one entry of the aborted-transactions index: a transaction
// of ProducerID whose records lie in [FirstOffset, LastOffset] (LastOffset
// is the abort marker's offset), aborted when the last stable offset was
// LastStableOffset. Mirrors Kafka's AbortedTxn.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// ProducerInfo describes a producer active on a partition
// (DescribeProducers).
type ProducerInfo struct {
	ProducerID            int64
	ProducerEpoch         int16
	LastSequence          int32
	LastTimestamp         int64
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64 // -1: no open transaction
}

// producerStates is a Log's producer state: Kafka's ProducerStateManager
// plus the aborted-transactions index of every segment.
//
// Lock order: producerStates.mu → Log.mu. mu is held across the sequence
// check, the append and the state update of an idempotent or transactional
// batch, so that two batches of one producer are checked in the order they
// are appended.
type producerStates struct {
	mu sync.Mutex
	// Fields below are guarded by mu.
	loaded      bool
	producers   map[int64]*producerEntry
	aborted     []abortedEntry // by LastOffset
	snapBase    int64          // active segment base at the last snapshot
	expiration  time.Duration
	lastExpired int64 // ms
	// verifying holds the verification guards of producers (KIP-890 part
	// 1), by producer id: StartTxnVerification sets one, the producer's
	// next transactional batch or marker clears it. In memory only.
	verifying map[int64]verification
	nextGuard VerificationGuard
}

// VerificationGuard ties a coordinator's transactional append to the
// KIP-890 verification that allowed it (Kafka's VerificationGuard): a
// guard taken before asking the transaction coordinator, cleared by the
// producer's next marker on the partition, so that an append whose
// verification a marker overtook is refused. NoVerificationGuard asks for
// no check.
type VerificationGuard uint64

// NoVerificationGuard: the caller verified nothing and needs no check (the
// transaction coordinator is local and keeps the transaction pending
// meanwhile, or the log is not a commit log).
const NoVerificationGuard VerificationGuard = 0

// verification is one producer's verification state on a partition
// (Kafka's VerificationStateEntry, without the sequence: only coordinator
// appends use it here).
type verification struct {
	guard VerificationGuard
	since int64 // ms, for expiry
}

// SetProducerIDExpiration sets producer.id.expiration.ms: producers without
// a batch for that long and without an open transaction are forgotten.
func (l *Log) SetProducerIDExpiration(d time.Duration) {
	l.ps.mu.Lock()
	l.ps.expiration = d
	l.ps.mu.Unlock()
}

// LoadProducerState rebuilds the producer state if it was not yet: the
// newest snapshot at or below the log end offset, the aborted-transaction
// indexes, then the batches after the snapshot. The last stable offset is
// set from the transactions found open. The broker calls it for every log
// at start; appends and reads call it lazily too.
func (l *Log) LoadProducerState() error {
	l.ps.mu.Lock()
	defer l.ps.mu.Unlock()
	return l.loadProducerStateLocked()
}

// ProducerAppendResult is the outcome of AppendProducer.
type ProducerAppendResult struct {
	AppendResult
	// Duplicate reports a batch the log already holds (a producer's retry):
	// nothing was appended and AppendResult gives the original offsets.
	Duplicate bool
}

// AppendProducer appends one client batch (a Produce request's records for
// one partition, already validated with record.Validate, whose walk of the
// records is not repeated here) with Kafka's idempotence and
// transaction checks (ProducerAppendInfo): a batch without a producer id is
// appended as by Append; otherwise its epoch and sequence are checked
// against the producer's state, a retry of one of the producer's last five
// batches returns the original offsets (Duplicate), and a rejected batch
// changes nothing. verify, if not nil, is called for a transactional batch
// that would open a transaction on this partition (KIP-890 part 1): an
// error rejects the batch.
//
// verify may ask a remote transaction coordinator, so it runs without the
// producer-state lock (which every produce, marker and read_committed
// fetch of the partition takes), under a verification guard as in Kafka:
// a marker of the producer between the verification and the append clears
// the guard and the batch is refused (ErrInvalidTxnState). Should a marker
// close the producer's transaction between the look and the append, so
// that a batch thought to continue it would open a new one, it is looked at
// again; only after verifyAttempts such races is verify called with the
// lock held.
func (l *Log) AppendProducer(records []byte, leaderEpoch int32, verify func(producerID int64, epoch int16) error) (ProducerAppendResult, error) {
	if verify == nil {
		return l.appendProducer(records, leaderEpoch, nil, false, NoVerificationGuard)
	}
	h, err := record.ParseHeader(records)
	if err != nil {
		return ProducerAppendResult{}, err
	}
	if h.ProducerID < 0 || !h.Transactional() || h.Control() {
		return l.appendProducer(records, leaderEpoch, nil, false, NoVerificationGuard)
	}
	for range verifyAttempts {
		guard, err := l.startProduceVerification(&h)
		if err != nil {
			return ProducerAppendResult{}, err
		}
		if guard != unverified {
			if err := verify(h.ProducerID, h.ProducerEpoch); err != nil {
				return ProducerAppendResult{}, err
			}
		}
		res, err := l.appendProducer(records, leaderEpoch, nil, false, guard)
		if !errors.Is(err, errUnverified) {
			return res, err
		}
	}
	return l.appendProducer(records, leaderEpoch, verify, false, NoVerificationGuard)
}

// verifyAttempts bounds AppendProducer's verifications without the lock.
const verifyAttempts = 3

// errUnverified: a batch would open a transaction but was not verified
// (the producer's transaction was open when AppendProducer looked).
var errUnverified = errors.New("commitlog: transactional batch not verified")

// unverified is the guard of a batch AppendProducer did not verify: should
// it open a transaction after all, appendProducer answers errUnverified.
const unverified VerificationGuard = math.MaxUint64

// startProduceVerification returns a verification guard for a client's
// transactional batch h that would open a transaction on this partition,
// or unverified when it would not (a retry of a held batch, or the
// producer's transaction is open here).
func (l *Log) startProduceVerification(h *record.Header) (VerificationGuard, error) {
	ps := &l.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return NoVerificationGuard, err
	}
	e := ps.producers[h.ProducerID]
	if _, dup := checkDuplicate(e, h); dup || (e != nil && e.txnFirstOffset >= 0) {
		return unverified, nil
	}
	return l.verificationGuardLocked(h.ProducerID), nil
}

// AppendCoordinator appends a transactional batch a coordinator wrote on a
// producer's behalf: the group coordinator's offset records of a
// TxnOffsetCommit (KIP-98), in __consumer_offsets. Mirrors Kafka's
// AppendOrigin.COORDINATOR: sequences are not checked (Kafka writes -1;
// record validation here refuses a producer id without a sequence, so the
// group coordinator writes 0), only the producer epoch (older:
// ErrInvalidProducerEpoch); the batch opens or continues the producer's
// transaction on this partition and holds the last stable offset until its
// marker.
//
// guard, unless NoVerificationGuard, is the one StartTxnVerification
// returned before the caller verified the transaction with its
// coordinator: when the producer has no transaction open on the partition
// at the batch's epoch, the batch is appended only if that guard is still
// the producer's, that is if no marker of the producer came after the
// verification (ErrInvalidTxnState otherwise). Mirrors UnifiedLog.append's
// batchMissingRequiredVerification (KIP-890 part 1, KAFKA-15449).
func (l *Log) AppendCoordinator(records []byte, leaderEpoch int32, guard VerificationGuard) (AppendResult, error) {
	h, err := record.ParseHeader(records)
	if err != nil {
		return AppendResult{}, err
	}
	if h.ProducerID < 0 || !h.Transactional() || h.Control() {
		return AppendResult{}, fmt.Errorf("%w: coordinator batch must be transactional", record.ErrInvalid)
	}
	res, err := l.appendProducer(records, leaderEpoch, nil, true, guard)
	return res.AppendResult, err
}

// StartTxnVerification returns the producer's verification guard on this
// partition, making one if it has none (Kafka's
// maybeStartTransactionVerification / maybeCreateVerificationStateEntry:
// concurrent verifications of one producer share the guard). Call it
// before asking the transaction coordinator whether the producer's ongoing
// transaction includes the partition, and pass the guard to
// AppendCoordinator: a marker of the producer in between clears it and the
// append is refused. Kafka returns no guard when a transaction is already
// open; a guard is returned here anyway, which the append ignores while
// the transaction stays open and which refuses it once a marker closed it,
// as Kafka's sentinel does.
func (l *Log) StartTxnVerification(producerID int64) (VerificationGuard, error) {
	ps := &l.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return NoVerificationGuard, err
	}
	return l.verificationGuardLocked(producerID), nil
}

// verificationGuardLocked returns the producer's guard, making one if it has
// none. l.ps.mu must be held.
func (l *Log) verificationGuardLocked(producerID int64) VerificationGuard {
	ps := &l.ps
	if v, ok := ps.verifying[producerID]; ok {
		return v.guard
	}
	if ps.verifying == nil {
		ps.verifying = make(map[int64]verification)
	}
	ps.nextGuard++
	v := verification{guard: ps.nextGuard, since: l.nowMs()}
	ps.verifying[producerID] = v
	return v.guard
}

func (l *Log) appendProducer(records []byte, leaderEpoch int32, verify func(producerID int64, epoch int16) error, coordinator bool, guard VerificationGuard) (ProducerAppendResult, error) {
	h, err := record.ParseHeader(records)
	if err != nil {
		return ProducerAppendResult{}, err
	}
	if h.ProducerID < 0 {
		res, err := l.appendLeader(records, leaderEpoch, !coordinator)
		return ProducerAppendResult{AppendResult: res}, err
	}
	if h.Control() {
		return ProducerAppendResult{}, fmt.Errorf("%w: clients may not write control records", record.ErrInvalid)
	}
	ps := &l.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return ProducerAppendResult{}, err
	}
	now := l.nowMs()
	l.maybeExpireProducersLocked(now)
	e := ps.producers[h.ProducerID]
	if coordinator {
		// The epoch first, as Kafka since KAFKA-19690: a fenced producer
		// gets the retriable answer, not INVALID_TXN_STATE.
		if e != nil && h.ProducerEpoch < e.epoch {
			return ProducerAppendResult{}, fmt.Errorf("%w: batch epoch %d, producer %d at epoch %d", ErrInvalidProducerEpoch, h.ProducerEpoch, h.ProducerID, e.epoch)
		}
		ongoing := e != nil && e.txnFirstOffset >= 0 && e.epoch == h.ProducerEpoch
		if guard != NoVerificationGuard && !ongoing && ps.verifying[h.ProducerID].guard != guard {
			return ProducerAppendResult{}, fmt.Errorf("%w: producer %d: a marker came after the transaction was verified", ErrInvalidTxnState, h.ProducerID)
		}
	} else {
		if dup, ok := checkDuplicate(e, &h); ok {
			// A retry answered with the offsets of the batch already held
			// (rare; logged for lost-write diagnosis, reliability.md F19).
			l.logger.Info("duplicate batch answered", "producer_id", h.ProducerID, "producer_epoch", h.ProducerEpoch,
				"base_sequence", h.BaseSequence, "first_offset", dup.FirstOffset, "last_offset", dup.LastOffset,
				"leader_epoch", leaderEpoch, "log_end", l.LogEndOffset(), "high_watermark", l.HighWatermark())
			return ProducerAppendResult{AppendResult: dup, Duplicate: true}, nil
		}
		if err := checkProducerBatch(e, &h); err != nil {
			return ProducerAppendResult{}, err
		}
	}
	opens := h.Transactional() && (e == nil || e.txnFirstOffset < 0)
	if opens && !coordinator {
		switch {
		case guard == unverified:
			return ProducerAppendResult{}, errUnverified
		case guard != NoVerificationGuard && ps.verifying[h.ProducerID].guard != guard:
			return ProducerAppendResult{}, fmt.Errorf("%w: producer %d: a marker came after the transaction was verified", ErrInvalidTxnState, h.ProducerID)
		}
	}
	if opens && verify != nil {
		if err := verify(h.ProducerID, h.ProducerEpoch); err != nil {
			return ProducerAppendResult{}, err
		}
	}
	if opens {
		// Hold the last stable offset back before the batch can become
		// visible: a concurrent produce may move the high watermark past it
		// as soon as it is in the log.
		cur := l.LogEndOffset()
		if lso := l.lsoFromStateLocked(); lso < 0 || lso > cur {
			l.SetLastStableOffset(cur)
		}
	}
	base := l.activeBase()
	res, err := l.appendLeader(records, leaderEpoch, !coordinator)
	if err != nil {
		if opens {
			l.SetLastStableOffset(l.lsoFromStateLocked())
		}
		return ProducerAppendResult{}, err
	}
	if nb := l.activeBase(); nb != base || ps.snapBase < 0 {
		// A roll happened (or no snapshot yet): the state before this
		// batch describes every offset below it.
		l.writeProducerSnapshotLocked(res.FirstOffset)
		ps.snapBase = nb
	}
	h.BaseOffset = res.FirstOffset
	if res.LogAppendTime >= 0 {
		h.MaxTimestamp = res.LogAppendTime
	}
	ps.applyBatch(&h)
	// Expiry goes by the broker's clock, not the producer's timestamps.
	ps.producers[h.ProducerID].lastTimestamp = now
	if opens {
		l.SetLastStableOffset(l.lsoFromStateLocked())
	}
	return ProducerAppendResult{AppendResult: res}, nil
}

// MarkerAppend describes a transaction marker to append.
type MarkerAppend struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	LeaderEpoch      int32
}

// AppendMarker appends a commit or abort marker for a producer (the
// transaction coordinator's WriteTxnMarkers): it closes the producer's open
// transaction on this partition, records an aborted transaction in the
// index, and moves the last stable offset. A marker with an epoch older
// than the producer's is ErrInvalidProducerEpoch; from an older
// coordinator epoch, ErrCoordinatorFenced. A marker for a producer without
// an open transaction is still written (Kafka does the same; it is
// harmless and keeps retries idempotent).
func (l *Log) AppendMarker(m MarkerAppend) (AppendResult, error) {
	ps := &l.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return AppendResult{}, err
	}
	e := ps.producers[m.ProducerID]
	if e != nil {
		if m.ProducerEpoch < e.epoch {
			return AppendResult{}, fmt.Errorf("%w: marker epoch %d, producer %d at epoch %d", ErrInvalidProducerEpoch, m.ProducerEpoch, m.ProducerID, e.epoch)
		}
		if m.CoordinatorEpoch < e.coordinatorEpoch {
			return AppendResult{}, fmt.Errorf("%w: marker coordinator epoch %d below %d", ErrCoordinatorFenced, m.CoordinatorEpoch, e.coordinatorEpoch)
		}
	}
	now := l.nowMs()
	batch := record.AppendMarker(nil, record.Marker{
		BaseOffset: 0, PartitionLeaderEpoch: m.LeaderEpoch, Timestamp: now, ProducerID: m.ProducerID,
		ProducerEpoch: m.ProducerEpoch, Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch,
	})
	base := l.activeBase()
	res, err := l.Append(batch, m.LeaderEpoch)
	if err != nil {
		return AppendResult{}, err
	}
	if nb := l.activeBase(); nb != base || ps.snapBase < 0 {
		l.writeProducerSnapshotLocked(res.FirstOffset)
		ps.snapBase = nb
	}
	lsoBefore := l.LastStableOffset()
	l.holdLocked(m.ProducerID, res.FirstOffset)
	if a, ok := ps.applyMarker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, res.FirstOffset, now); ok {
		a.LastStableOffset = lsoBefore
		if err := l.addAbortedLocked(a); err != nil {
			return res, l.goOffline(err)
		}
	}
	l.SetLastStableOffset(l.lsoFromStateLocked())
	return res, nil
}

// applyReplicatedLocked updates the producer state with batches a follower
// appended (AppendReplicated; spans carry their final offsets), as the
// leader did when it appended them: a data batch records the producer's
// epoch and batch metadata and may open a transaction; a marker closes the
// transaction, adds an abort to the aborted-transactions index, and moves
// the last stable offset. Nothing is checked: the leader did, and epoch
// bumps are taken as they come. Without this a follower elected leader
// would not know the producers' last sequences and would append a
// producer's retry a second time (chaos G-CON "duplicate"). Mirrors
// UnifiedLog.appendAsFollower's analyzeAndValidateProducerState +
// updateProducers. l.ps.mu must be held and the state loaded.
func (l *Log) applyReplicatedLocked(records []byte, spans []batchSpan) error {
	ps := &l.ps
	now := l.nowMs()
	l.maybeExpireProducersLocked(now)
	var touched []int64
	for i := range spans {
		h := spans[i].h
		if h.ProducerID < 0 {
			continue
		}
		if !h.Control() {
			ps.applyBatch(&h)
			// Expiry goes by the broker's clock, as on the leader.
			ps.producers[h.ProducerID].lastTimestamp = now
			continue
		}
		commit, ce, ok := parseMarker(records[spans[i].pos : spans[i].pos+h.Size()])
		if !ok {
			continue
		}
		lso := l.lsoFromStateLocked()
		l.holdLocked(h.ProducerID, h.BaseOffset)
		if a, ok := ps.applyMarker(h.ProducerID, h.ProducerEpoch, commit, ce, h.BaseOffset, now); ok {
			a.LastStableOffset = lso
			seg := l.segmentBaseFor(a.LastOffset)
			ps.aborted = append(ps.aborted, abortedEntry{AbortedTxn: a, seg: seg})
			if len(touched) == 0 || touched[len(touched)-1] != seg {
				touched = append(touched, seg)
			}
		}
	}
	l.SetLastStableOffset(l.lsoFromStateLocked())
	if len(touched) == 0 {
		return nil
	}
	sortAborted(ps.aborted)
	for _, seg := range touched {
		if err := l.writeTxnIndexLocked(seg); err != nil {
			return l.goOffline(err)
		}
	}
	return nil
}

// checkDuplicate reports whether h repeats one of e's retained batches, and
// if so the original offsets. Mirrors ProducerStateEntry.findDuplicateBatch.
func checkDuplicate(e *producerEntry, h *record.Header) (AppendResult, bool) {
	if e == nil || h.ProducerEpoch != e.epoch {
		return AppendResult{}, false
	}
	last := lastSequence(h)
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return AppendResult{
				FirstOffset: b.firstOffset, LastOffset: b.lastOffset, LogAppendTime: -1,
				NumRecords: int(h.NumRecords),
			}, true
		}
	}
	return AppendResult{}, false
}

// lastSequence is the sequence of a batch's last record; sequences wrap at
// MaxInt32 (DefaultRecordBatch.incrementSequence).
func lastSequence(h *record.Header) int32 {
	return addSeq(h.BaseSequence, h.LastOffsetDelta)
}

func addSeq(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// inSequence reports whether next follows last (with wrap-around).
func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// checkProducerBatch is Kafka's ProducerAppendInfo.checkProducerEpoch and
// checkSequence for a client batch that is not a duplicate. A producer the
// partition does not know (new, expired, or whose batches were all
// deleted) may start at any sequence, as Kafka does since KIP-360; a known
// producer must start a new epoch at sequence 0 and continue an epoch at
// its last sequence + 1.
func checkProducerBatch(e *producerEntry, h *record.Header) error {
	if e == nil {
		return nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return fmt.Errorf("%w: batch epoch %d, producer %d at epoch %d", ErrInvalidProducerEpoch, h.ProducerEpoch, h.ProducerID, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, want 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
	default:
		// With no batch in this epoch (only markers) the last sequence is
		// -1 and the producer must start at 0.
		if last := e.lastSeq(); !inSequence(last, h.BaseSequence) {
			return fmt.Errorf("%w: producer %d epoch %d: sequence %d after %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, last)
		}
	}
	if !h.Transactional() && e.txnFirstOffset >= 0 {
		return fmt.Errorf("%w: producer %d has an open transaction; non-transactional batch rejected", ErrInvalidTxnState, h.ProducerID)
	}
	return nil
}

// applyBatch records an appended data batch (h carries its final base
// offset). Used by appends and by replay.
func (ps *producerStates) applyBatch(h *record.Header) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{id: h.ProducerID, epoch: h.ProducerEpoch, coordinatorEpoch: -1, txnFirstOffset: -1}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	if h.BaseSequence >= 0 {
		if len(e.batches) == maxBatchesPerProducer {
			copy(e.batches, e.batches[1:])
			e.batches = e.batches[:maxBatchesPerProducer-1]
		}
		e.batches = append(e.batches, batchMeta{
			firstSeq: h.BaseSequence, lastSeq: lastSequence(h),
			firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), timestamp: h.MaxTimestamp,
		})
	}
	e.lastTimestamp = h.MaxTimestamp
	if h.Transactional() {
		// The transaction is open now: later appends need no guard.
		delete(ps.verifying, h.ProducerID)
		if e.txnFirstOffset < 0 {
			e.txnFirstOffset = h.BaseOffset
		}
	}
}

// applyMarker records a marker at offset; for an abort that closed an open
// transaction it returns the aborted transaction (LastStableOffset unset).
func (ps *producerStates) applyMarker(pid int64, epoch int16, commit bool, coordEpoch int32, offset, ts int64) (AbortedTxn, bool) {
	e := ps.producers[pid]
	if e == nil {
		e = &producerEntry{id: pid, epoch: epoch, coordinatorEpoch: -1, txnFirstOffset: -1}
		ps.producers[pid] = e
	}
	if epoch > e.epoch {
		e.epoch = epoch
		e.batches = e.batches[:0]
	}
	e.coordinatorEpoch = coordEpoch
	e.lastTimestamp = ts
	// A verification before the marker verified the transaction it ended.
	delete(ps.verifying, pid)
	first := e.txnFirstOffset
	e.txnFirstOffset = -1
	if commit || first < 0 {
		return AbortedTxn{}, false
	}
	return AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: offset}, true
}

// lsoFromStateLocked returns the first offset of the oldest open
// transaction, or -1 (the last stable offset follows the high watermark).
// l.ps.mu must be held.
func (l *Log) lsoFromStateLocked() int64 {
	lso := int64(-1)
	for _, e := range l.ps.producers {
		if e.txnFirstOffset >= 0 && (lso < 0 || e.txnFirstOffset < lso) {
			lso = e.txnFirstOffset
		}
	}
	return lso
}

// maybeExpireProducersLocked forgets producers idle for longer than
// producer.id.expiration.ms that have no open transaction. l.ps.mu must be
// held.
func (l *Log) maybeExpireProducersLocked(now int64) {
	ps := &l.ps
	if now-ps.lastExpired < producerExpirationCheck.Milliseconds() {
		return
	}
	ps.lastExpired = now
	exp := ps.expiration
	if exp <= 0 {
		exp = DefaultProducerIDExpiration
	}
	for id, e := range ps.producers {
		if e.txnFirstOffset < 0 && now-e.lastTimestamp >= exp.Milliseconds() {
			delete(ps.producers, id)
		}
	}
	for id, v := range ps.verifying {
		if now-v.since >= exp.Milliseconds() {
			delete(ps.verifying, id)
		}
	}
}

// activeBase returns the base offset of the active segment.
func (l *Log) activeBase() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return -1
	}
	return l.active().base
}

// Producers returns the producers with state on this partition, by id
// (DescribeProducers).
func (l *Log) Producers() ([]ProducerInfo, error) {
	l.ps.mu.Lock()
	defer l.ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return nil, err
	}
	out := make([]ProducerInfo, 0, len(l.ps.producers))
	for _, e := range l.ps.producers {
		out = append(out, ProducerInfo{
			ProducerID: e.id, ProducerEpoch: e.epoch, LastSequence: e.lastSeq(), LastTimestamp: e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch, CurrentTxnStartOffset: e.txnFirstOffset,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out, nil
}

// AbortedTransactions returns the aborted transactions a read_committed
// fetch of [from, to) must report: those with LastOffset ≥ from and
// FirstOffset < to, by first offset. Mirrors
// UnifiedLog.collectAbortedTransactions.
func (l *Log) AbortedTransactions(from, to int64) ([]AbortedTxn, error) {
	l.ps.mu.Lock()
	defer l.ps.mu.Unlock()
	if err := l.loadProducerStateLocked(); err != nil {
		return nil, err
	}
	ab := l.ps.aborted
	i := sort.Search(len(ab), func(i int) bool { return ab[i].LastOffset >= from })
	var out []AbortedTxn
	for ; i < len(ab); i++ {
		if ab[i].FirstOffset < to {
			out = append(out, ab[i].AbortedTxn)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out, nil
}
