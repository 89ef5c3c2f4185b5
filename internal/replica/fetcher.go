package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transport sends a follower's Fetch to a broker and returns its answer. The
// TCP one speaks the Kafka protocol; simulations deliver in memory.
type Transport interface {
	Fetch(ctx context.Context, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error)
}

// errIdle: no partition is ready to fetch from the source.
var errIdle = errors.New("replica: nothing to fetch")

// fetchVersion is the Fetch version followers send: v12 is the first with
// LastFetchedEpoch and DivergingEpoch (KIP-595/KIP-320 truncation in the
// fetch path) and the last that names topics rather than ids, so a follower
// needs no topic-id map.
const fetchVersion = 12

// fetcher fetches every partition this broker follows from one source
// broker (Kafka's ReplicaFetcherThread). Its goroutine is owned by
// Manager.Run; once is also a simulation step.
type fetcher struct {
	m      *Manager
	source int32
}

func (f *fetcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		if f.m.fetcherDone(f) {
			return
		}
		progress, err := FetchOnce(ctx, f.m, f.source, f.m.cfg.Transport, f.m.cfg.FetchMaxWait)
		if err != nil && ctx.Err() == nil {
			f.m.logger.Debug("replica fetch", "source", f.source, "err", err)
		}
		switch {
		case errors.Is(err, errIdle):
			sleep(ctx, f.m.cfg.FetchMaxWait)
		case err != nil:
			sleep(ctx, f.m.cfg.FetchBackoff)
		}
		_ = progress // an empty long poll is no reason to wait: fetch again
	}
	f.m.fetcherDone(f)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// FetchOnce runs one fetch round from source for the partitions m follows
// from it: make local data durable, send one Fetch (maxWait is its
// MaxWaitMillis), truncate diverging partitions, append what came back. It
// reports whether anything changed (records, truncation or a high
// watermark), so that the caller can back off when nothing did.
func FetchOnce(ctx context.Context, m *Manager, source int32, t Transport, maxWait time.Duration) (bool, error) {
	parts := m.followed(source)
	if len(parts) == 0 {
		return false, errIdle
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = m.cfg.NodeID
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = m.cfg.FetchResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // sessionless
	type sent struct {
		p   *Partition
		pos fetchPosition
	}
	var sents []sent
	byTopic := map[string]int{}
	for _, p := range parts {
		pos, ok, err := p.followerPosition(ctx, source)
		if err != nil {
			return false, fmt.Errorf("prepare fetch of %s-%d: %w", p.topic, p.index, err)
		}
		if !ok {
			continue
		}
		sents = append(sents, sent{p, pos})
		i, ok := byTopic[p.topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.index
		rp.FetchOffset = pos.offset
		rp.CurrentLeaderEpoch = pos.currentEpoch
		rp.LastFetchedEpoch = pos.lastFetchedEpoch
		rp.LogStartOffset = -1
		rp.PartitionMaxBytes = m.cfg.FetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(sents) == 0 {
		return false, errIdle
	}
	resp, err := t.Fetch(ctx, source, req)
	if err != nil {
		return false, fmt.Errorf("fetch from broker %d: %w", source, err)
	}
	if resp.ErrorCode != 0 {
		return false, fmt.Errorf("fetch from broker %d: %w", source, kerr.ErrorForCode(resp.ErrorCode))
	}
	type pk struct {
		topic string
		part  int32
	}
	answers := make(map[pk]*kmsg.FetchResponseTopicPartition, len(sents))
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			answers[pk{rt.Topic, rt.Partitions[j].Partition}] = &rt.Partitions[j]
		}
	}
	progress := false
	var errs []error
	for _, s := range sents {
		rp := answers[pk{s.p.topic, s.p.index}]
		if rp == nil {
			continue
		}
		switch {
		case rp.ErrorCode == kerr.OffsetOutOfRange.Code && rp.LogStartOffset > s.pos.offset:
			// Our log ends below the leader's log start: restart there.
			if err := s.p.startAtLeaderStart(source, s.pos, rp.LogStartOffset); err != nil {
				errs = append(errs, err)
				continue
			}
			progress = true
		case rp.ErrorCode != 0:
			// NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH: the
			// metadata will move us.
			errs = append(errs, fmt.Errorf("%s-%d: %w", s.p.topic, s.p.index, kerr.ErrorForCode(rp.ErrorCode)))
		case rp.DivergingEpoch.EndOffset >= 0 || rp.DivergingEpoch.Epoch >= 0:
			if _, err := s.p.truncateDiverging(source, s.pos, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset); err != nil {
				errs = append(errs, err)
				continue
			}
			progress = true
		default:
			hwMoved, err := s.p.appendFromLeader(source, s.pos, rp.RecordBatches, rp.HighWatermark)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(rp.RecordBatches) > 0 || hwMoved {
				progress = true
			}
			if hwMoved {
				m.hwMoved(s.p)
			}
		}
	}
	return progress, errors.Join(errs...)
}
