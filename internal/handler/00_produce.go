package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/record"
)

// Produce (API key 0): versions 3–12.
//
//	v3:  record batches v2 only (magic 2); TransactionalID. v0–v2 carried
//	     message sets v0/v1, which Kavka does not store (Kafka 4.0 dropped them too)
//	v5:  LogStartOffset in the response
//	v8:  ErrorRecords, ErrorMessage (KIP-467)
//	v9:  flexible versions
//	v10: CurrentLeader/NodeEndpoints tags on NOT_LEADER (KIP-951); a single node
//	     never sends them
//	v11: no change for the broker (KIP-951 client side)
//	v12: KIP-890 part 2 transactions; no change without transactions
//	v13: topic ids instead of names (KIP-516) — not advertised yet
//
// acks=0 gets no response (the network layer drops it, and closes the
// connection if a partition failed, as Kafka does). acks=1 and acks=-1 are
// answered once the batch is durable (WaitDurable) when the topic uses
// Kavka's default flush policy; on a single node both mean "on this broker's
// disk". The high watermark moves to the end of the durable data.
func (h *Handlers) produce(ctx context.Context, rc *RequestContext, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	im := h.deps.Image()
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1

	type appended struct {
		p     *kmsg.ProduceResponseTopicPartition
		l     *commitlog.Log
		end   int64 // offset after the batch
		epoch int32 // the leader epoch it was appended in
	}
	var waits []appended
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
			p := &st.Partitions[len(st.Partitions)-1]
			if badAcks {
				p.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			}
			l, mp, err := h.partitionLog(im, rt.Topic, rp.Partition)
			if err == nil {
				err = h.validateProduce(l, rp.Records)
			}
			var res commitlog.ProducerAppendResult
			var epoch int32
			if err == nil {
				epoch, err = h.leaderAppend(rt.Topic, rp.Partition, req.Acks, mp.LeaderEpoch, func(e int32) (err error) {
					res, err = h.appendProduce(ctx, req.TransactionID, l, rp.Records, e)
					return err
				})
			}
			if err != nil {
				h.setProduceError(rc, p, rt.Topic, rp.Partition, err)
				continue
			}
			p.BaseOffset, p.LogAppendTime = res.FirstOffset, res.LogAppendTime
			p.LogStartOffset = l.LogStartOffset()
			waits = append(waits, appended{p, l, res.LastOffset + 1, epoch})
		}
		resp.Topics = append(resp.Topics, st)
	}

	// Durability: one group commit per log; appends above were all issued
	// first so that they share fsyncs.
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Every partition durable first, then every commit: waiting for one
	// partition's commit before the next one's fsync would let followers
	// fetch the request's partitions in two rounds (two follower fsyncs).
	durable := waits[:0]
	for _, w := range waits {
		if w.l.Durable() {
			if err := w.l.WaitDurable(wctx, w.end-1); err != nil {
				h.setProduceError(rc, w.p, w.l.Topic(), w.l.Partition(), err)
				continue
			}
		}
		durable = append(durable, w)
	}
	for _, w := range durable {
		if err := h.produceCommitted(wctx, w.l, w.epoch, w.end, req.Acks); err != nil {
			h.setProduceError(rc, w.p, w.l.Topic(), w.l.Partition(), err)
		}
	}
	return resp
}

// validateProduce applies Kafka's LogValidator checks for client data:
// exactly one batch (magic 2), valid, within max.message.bytes, with
// timestamps inside message.timestamp.{before,after}.max.ms for CreateTime
// topics.
func (h *Handlers) validateProduce(l *commitlog.Log, records []byte) error {
	if len(records) == 0 {
		return fmt.Errorf("%w: no record batch", record.ErrInvalid)
	}
	cfg := l.Config()
	tc := h.topicConfig(l.Topic())
	if len(records) >= record.LogOverhead {
		if hd, err := record.ParseHeader(records); err == nil && hd.Size() < len(records) {
			return fmt.Errorf("%w: more than one record batch for one partition", record.ErrInvalid)
		}
	}
	hd, err := record.Validate(records, record.ValidateOptions{MaxBatchBytes: int(cfg.MaxMessageBytes)})
	if err != nil {
		return err
	}
	// Validate walks uncompressed records only. Like Kafka's LogValidator,
	// decompress the others once to check them: a corrupt stream or bad
	// records inside is INVALID_RECORD, more than maxDecompressedBytes (a
	// decompression bomb) MESSAGE_TOO_LARGE. A compacted topic needs every
	// record's key, compressed or not.
	if hd.Codec() != record.CodecNone || tc.CleanupCompact {
		if err := record.ValidateRecords(records, &hd, maxDecompressedBytes, tc.CleanupCompact); err != nil {
			return err
		}
	}
	if !cfg.LogAppendTime {
		if hd.LogAppendTime() {
			return fmt.Errorf("%w: producer set LogAppendTime", record.ErrTimestamp)
		}
		now := h.clock().Now().UnixMilli()
		if err := checkTimestamp(hd.BaseTimestamp, now, tc); err != nil {
			return err
		}
		if err := checkTimestamp(hd.MaxTimestamp, now, tc); err != nil {
			return err
		}
	}
	return nil
}

// maxDecompressedBytes caps the records of one produced batch after
// decompression. It matches what the broker itself decodes later (the
// cleaner and timestamp lookups, commitlog's maxDecoded), so that nothing
// accepted here fails there.
const maxDecompressedBytes = 64 << 20

// checkTimestamp is KIP-937's message.timestamp.before.max.ms and
// message.timestamp.after.max.ms.
func checkTimestamp(ts, now int64, tc config.Topic) error {
	before, after := tc.TimestampBeforeMaxMs, tc.TimestampAfterMaxMs
	if ts < 0 {
		return nil // no timestamp (-1)
	}
	if before > 0 && now-ts > before {
		return fmt.Errorf("%w: timestamp %d is more than %d ms before now %d", record.ErrTimestamp, ts, before, now)
	}
	if after > 0 && ts-now > after {
		return fmt.Errorf("%w: timestamp %d is more than %d ms after now %d", record.ErrTimestamp, ts, after, now)
	}
	return nil
}

func (h *Handlers) setProduceError(rc *RequestContext, p *kmsg.ProduceResponseTopicPartition, topic string, partition int32, err error) {
	p.ErrorCode = errorCode(err)
	p.BaseOffset, p.LogAppendTime = -1, -1
	if p.ErrorCode == kerr.UnknownServerError.Code || p.ErrorCode == kerr.KafkaStorageError.Code {
		h.logger().Error("produce", "topic", topic, "partition", partition, "peer", rc.Peer, "err", err)
	}
	if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		p.ErrorMessage = errorMessage(err)
	}
}
