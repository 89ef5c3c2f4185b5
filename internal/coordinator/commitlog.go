package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/record"
)

// PartitionLog is a Log over a partition of the commit log: each Append is
// one or more uncompressed record batches without a producer, stamped with
// the partition's leader epoch, and acknowledged once fsynced (the commit
// log's group commit, so concurrent appends share fsyncs).
type PartitionLog struct {
	log         *commitlog.Log
	clock       clock.Clock
	leaderEpoch int32
}

// NewPartitionLog returns l as a Log. leaderEpoch is the partition's leader
// epoch (-1 leaves batches unstamped).
func NewPartitionLog(l *commitlog.Log, clk clock.Clock, leaderEpoch int32) *PartitionLog {
	return &PartitionLog{log: l, clock: clk, leaderEpoch: leaderEpoch}
}

// maxBatchRecordBytes bounds the records of one batch so that a batch stays
// under the topic's max.message.bytes (1 MiB by default); a larger append
// becomes several batches, appended together.
const maxBatchRecordBytes = 512 << 10

// Append implements Log.
func (p *PartitionLog) Append(recs []Record) (int64, error) {
	if len(recs) == 0 {
		return 0, errors.New("append: no records")
	}
	now := p.clock.Now().UnixMilli()
	opts := record.BuilderOptions{
		BaseTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1,
	}
	var out []byte
	b := record.NewBuilder(opts)
	size := 0
	flush := func() error {
		var err error
		if out, err = b.Build(out); err != nil {
			return fmt.Errorf("encode batch: %w", err)
		}
		size = 0
		return nil
	}
	delta := int32(0)
	for _, r := range recs {
		if b.Len() > 0 && size+len(r.Key)+len(r.Value) > maxBatchRecordBytes {
			if err := flush(); err != nil {
				return 0, err
			}
			b.Reset(opts)
			delta = 0
		}
		b.Add(record.Record{OffsetDelta: delta, Key: r.Key, Value: r.Value})
		size += len(r.Key) + len(r.Value)
		delta++
	}
	if err := flush(); err != nil {
		return 0, err
	}
	res, err := p.log.Append(out, p.leaderEpoch)
	if err != nil {
		return 0, fmt.Errorf("append to %s-%d: %w", p.log.Topic(), p.log.Partition(), err)
	}
	return res.LastOffset, nil
}

// WaitDurable implements Log. Once the records are durable they are also
// committed on this single replica, so the high watermark moves past them
// and consumers of the internal topic can read them.
func (p *PartitionLog) WaitDurable(ctx context.Context, offset int64) error {
	if err := p.log.WaitDurable(ctx, offset); err != nil {
		return fmt.Errorf("wait durable %s-%d: %w", p.log.Topic(), p.log.Partition(), err)
	}
	if p.log.HighWatermark() <= offset {
		p.log.SetHighWatermark(offset + 1)
	}
	return nil
}

// AppendTxn implements TxnLog: one transactional batch of the producer,
// appended with the commit log's coordinator-origin checks (the producer's
// epoch) so that the partition's producer state and last stable offset
// follow the transaction. The base sequence is 0, not Kafka's -1, which
// record validation refuses for a batch with a producer id; nothing reads
// it.
func (p *PartitionLog) AppendTxn(pid int64, epoch int16, guard commitlog.VerificationGuard, recs []Record) (int64, error) {
	if len(recs) == 0 {
		return 0, errors.New("append: no records")
	}
	b := record.NewBuilder(record.BuilderOptions{
		BaseTimestamp: p.clock.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: 0,
		Transactional: true, PartitionLeaderEpoch: -1,
	})
	for i, r := range recs {
		b.Add(record.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value})
	}
	out, err := b.Build(nil)
	if err != nil {
		return 0, fmt.Errorf("encode batch: %w", err)
	}
	res, err := p.log.AppendCoordinator(out, p.leaderEpoch, guard)
	if err != nil {
		return 0, fmt.Errorf("append to %s-%d: %w", p.log.Topic(), p.log.Partition(), err)
	}
	return res.LastOffset, nil
}

// replayReadBytes is how much Replay reads at a time.
const replayReadBytes = 1 << 20

// Replay implements Log: it reads every batch from the log start offset to
// the log end offset, skipping control batches and transactional ones.
func (p *PartitionLog) Replay(ctx context.Context, fn func(int64, Record) error) error {
	return p.ReplayTxn(ctx, func(off int64, r Record, b Batch) error {
		if b.Transactional {
			return nil
		}
		return fn(off, r)
	})
}

// ReplayTxn implements TxnLog. A control batch that is not a transaction
// marker is skipped.
func (p *PartitionLog) ReplayTxn(ctx context.Context, fn func(int64, Record, Batch) error) error {
	end := p.log.LogEndOffset()
	off := p.log.LogStartOffset()
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := p.log.Read(off, replayReadBytes, end, true)
		if err != nil {
			return fmt.Errorf("read %s-%d at %d: %w", p.log.Topic(), p.log.Partition(), off, err)
		}
		buf, err := s.ReadAll(nil)
		s.Release()
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			// A gap the cleaner left at the end of a segment: nothing more
			// below end in this segment. Read has returned whole batches
			// otherwise, so an empty slice before end is a bug or a race
			// with truncation; stop rather than spin.
			return fmt.Errorf("replay %s-%d: no batch at offset %d below end %d", p.log.Topic(), p.log.Partition(), off, end)
		}
		next := off
		it := record.NewBatches(buf)
		for {
			batch, h, ok := it.Next()
			if !ok {
				break
			}
			next = h.NextOffset()
			info := Batch{ProducerID: -1, ProducerEpoch: -1}
			if h.Transactional() {
				info = Batch{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, Transactional: true}
			}
			recs, err := record.DecodeRecords(batch, 64<<20)
			if err != nil {
				return fmt.Errorf("decode batch at %d: %w", h.BaseOffset, err)
			}
			if h.Control() {
				if !h.Transactional() || len(recs) == 0 || h.BaseOffset < off {
					continue
				}
				typ, err := record.ParseControlRecord(recs[0].Key)
				if err != nil || (typ != record.ControlCommit && typ != record.ControlAbort) {
					continue
				}
				info.Marker, info.Commit = true, typ == record.ControlCommit
				if err := fn(h.BaseOffset, Record{}, info); err != nil {
					return err
				}
				continue
			}
			for _, r := range recs {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o < off {
					continue
				}
				if err := fn(o, Record{Key: r.Key, Value: r.Value}, info); err != nil {
					return err
				}
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("replay %s-%d: %w", p.log.Topic(), p.log.Partition(), err)
		}
		if next <= off {
			return fmt.Errorf("replay %s-%d: no progress at offset %d", p.log.Topic(), p.log.Partition(), off)
		}
		off = next
	}
	return nil
}
