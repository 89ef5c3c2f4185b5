package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/replica"
)

// ErrNotLeader is returned by a ReplicatedLog once this broker no longer
// leads the partition in the leader epoch the shard was loaded in. The
// coordinators answer NOT_COORDINATOR after it and drop the shard.
var ErrNotLeader = errors.New("coordinator: not the leader of the partition")

// Leased is a Log that is only valid while this broker leads its partition
// in one leader epoch. A shard checks it before every operation and unloads
// itself when the lease is gone (Kafka's CoordinatorRuntime unloads a shard
// on the leader-and-ISR change; here the check is lazy, so no callback from
// the metadata subscriber is needed, which would take shard locks under the
// metadata store's lock).
type Leased interface {
	// Current returns nil while the log may still be written and read as
	// the shard's state, else an error wrapping ErrNotLeader.
	Current() error
}

// Current reports whether l is still valid: always for a Log that is not
// Leased.
func Current(l Log) error {
	if x, ok := l.(Leased); ok {
		return x.Current()
	}
	return nil
}

// ReplicatedLog is a TxnLog over the local leader replica of an internal
// topic partition: appends go through the replica layer in the leader epoch
// the log was opened in (replica.Partition.AppendWith, acks=-1 with the
// topic's min.insync.replicas), and WaitDurable returns only once the
// records are durable here and the high watermark has passed them, i.e.
// they are fsynced on every member of the ISR (WaitCommitted). So an
// acknowledged offset commit or transaction state change survives the loss
// of the leader. Mirrors the coordinators' appends with requiredAcks=-1 in
// Kafka (CoordinatorPartitionWriter, ReplicaManager.appendRecords).
type ReplicatedLog struct {
	*PartitionLog
	p      *replica.Partition
	epoch  int32
	minISR func() int
}

// NewReplicatedLog opens p, which must be led by this broker, as a
// coordinator log in p's current leader epoch. minISR returns the
// partition's min.insync.replicas (nil: 1).
func NewReplicatedLog(p *replica.Partition, clk clock.Clock, minISR func() int) (*ReplicatedLog, error) {
	role, epoch := p.Role()
	if role != replica.RoleLeader {
		return nil, fmt.Errorf("%w: %s-%d is %s here", ErrNotLeader, p.Topic(), p.Index(), role)
	}
	if minISR == nil {
		minISR = func() int { return 1 }
	}
	return &ReplicatedLog{PartitionLog: NewPartitionLog(p.Log(), clk, epoch), p: p, epoch: epoch, minISR: minISR}, nil
}

// LeaderEpoch returns the leader epoch the log was opened in (the
// transaction coordinator's coordinator epoch).
func (r *ReplicatedLog) LeaderEpoch() int32 { return r.epoch }

// Current implements Leased.
func (r *ReplicatedLog) Current() error {
	role, epoch := r.p.Role()
	if role != replica.RoleLeader || epoch != r.epoch {
		return fmt.Errorf("%w: %s-%d is %s in epoch %d, loaded in epoch %d", ErrNotLeader, r.p.Topic(), r.p.Index(), role, epoch, r.epoch)
	}
	return nil
}

// appendAsLeader runs fn under the partition's leadership in r's epoch.
func (r *ReplicatedLog) appendAsLeader(fn func() error) error {
	_, err := r.p.AppendWith(-1, r.minISR(), func(e int32) error {
		if e != r.epoch {
			return fmt.Errorf("%w: leader epoch %d, loaded in %d", ErrNotLeader, e, r.epoch)
		}
		return fn()
	})
	if errors.Is(err, replica.ErrNotLeader) && !errors.Is(err, ErrNotLeader) {
		err = fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return err
}

// Append implements Log.
func (r *ReplicatedLog) Append(recs []Record) (int64, error) {
	var last int64
	err := r.appendAsLeader(func() (err error) {
		last, err = r.PartitionLog.Append(recs)
		return err
	})
	return last, err
}

// AppendTxn implements TxnLog.
func (r *ReplicatedLog) AppendTxn(pid int64, epoch int16, guard commitlog.VerificationGuard, recs []Record) (int64, error) {
	var last int64
	err := r.appendAsLeader(func() (err error) {
		last, err = r.PartitionLog.AppendTxn(pid, epoch, guard, recs)
		return err
	})
	return last, err
}

// WaitDurable implements Log: the records up to offset are fsynced here and
// committed (below the high watermark) in the epoch the log was opened in.
func (r *ReplicatedLog) WaitDurable(ctx context.Context, offset int64) error {
	l := r.p.Log()
	if err := l.WaitDurable(ctx, offset); err != nil {
		return fmt.Errorf("wait durable %s-%d: %w", l.Topic(), l.Partition(), err)
	}
	r.p.LeaderDurable()
	if err := r.p.WaitCommitted(ctx, r.epoch, offset+1, r.minISR()); err != nil {
		if errors.Is(err, replica.ErrNotLeader) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return fmt.Errorf("wait committed %s-%d at %d: %w", l.Topic(), l.Partition(), offset, err)
	}
	return nil
}
