package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"golang.org/x/sync/errgroup"
)

// Raw fetch sizes: like a Kafka consumer with fetch.max.bytes 64 MiB and
// max.partition.fetch.bytes 8 MiB, large enough to stream a partition.
const (
	rawFetchMaxBytes          = 64 << 20
	rawFetchPartitionMaxBytes = 8 << 20
	rawFetchMaxWaitMillis     = 500
)

// rawFetch reads the topic from start to end with Fetch requests it builds
// itself, counting record-batch bytes and record counts from the batch
// headers without decoding any record. Consumer i takes the partitions
// p % Consumers == i and sends one request per leader at a time. The
// latency recorded is each request's round trip.
func rawFetch(ctx context.Context, cfg *Config, ti *topicInfo, start, end map[int32]int64, rec *recorder) error {
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for i := range cfg.Consumers {
		byLeader := map[int32][]int32{}
		for _, p := range ti.partitions {
			if int(p)%cfg.Consumers == i {
				byLeader[ti.leaders[p]] = append(byLeader[ti.leaders[p]], p)
			}
		}
		if len(byLeader) == 0 {
			continue
		}
		g.Go(func() error {
			opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}
			if ti.id == ([16]byte{}) {
				// No topic ids: stay below Fetch v13, which names topics by id.
				v := kversion.Stable()
				v.SetMaxKeyVersion(1, 12)
				opts = append(opts, kgo.MaxVersions(v))
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return fmt.Errorf("raw fetch client: %w", err)
			}
			defer cl.Close()
			// A metadata request teaches the client the broker addresses.
			mreq := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(cfg.Topic)
			mreq.Topics = append(mreq.Topics, mt)
			mctx, cancel := context.WithTimeout(gctx, adminTimeout)
			_, err = mreq.RequestWith(mctx, cl)
			cancel()
			if err != nil {
				return fmt.Errorf("raw fetch metadata: %w", err)
			}
			lg, lctx := errgroup.WithContext(gctx)
			for leader, parts := range byLeader {
				lg.Go(func() error {
					f := &rawFetcher{cl: cl, broker: cl.Broker(int(leader)), cfg: cfg, ti: ti, rec: rec, total: &total}
					return f.run(lctx, parts, start, end)
				})
			}
			return lg.Wait()
		})
	}
	err := g.Wait()
	if errors.Is(err, context.DeadlineExceeded) && cfg.Duration > 0 {
		return nil // the run's duration ended it
	}
	return err
}

// rawFetcher fetches a set of partitions from one leader.
type rawFetcher struct {
	cl     *kgo.Client
	broker *kgo.Broker
	cfg    *Config
	ti     *topicInfo
	rec    *recorder
	total  *atomic.Int64
}

func (f *rawFetcher) run(ctx context.Context, parts []int32, start, end map[int32]int64) error {
	pos := map[int32]int64{}
	for _, p := range parts {
		pos[p] = start[p]
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = rawFetchMaxWaitMillis
	req.MinBytes = 1
	req.MaxBytes = rawFetchMaxBytes
	req.SessionID = 0
	req.SessionEpoch = -1 // no fetch session: every request names its partitions
	lastProgress := time.Now()
	for {
		if f.cfg.Count > 0 && f.total.Load() >= f.cfg.Count {
			return nil
		}
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = f.cfg.Topic
		rt.TopicID = f.ti.id
		for _, p := range parts {
			if pos[p] >= end[p] {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.FetchOffset = pos[p]
			rp.PartitionMaxBytes = rawFetchPartitionMaxBytes
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) == 0 {
			return nil
		}
		if time.Since(lastProgress) > drainTimeout {
			return fmt.Errorf("raw fetch stalled for %s at %v, want %v", drainTimeout, pos, end)
		}
		req.Topics = append(req.Topics[:0], rt)
		t0 := time.Now()
		kresp, err := f.broker.Request(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fetch: %w", err)
		}
		lat := time.Since(t0)
		resp := kresp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		var recs, bytes int64
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("fetch partition %d: %w", rp.Partition, err)
				}
				n, next := scanBatches(rp.RecordBatches)
				if next > pos[rp.Partition] {
					pos[rp.Partition] = next
					lastProgress = time.Now()
				}
				recs += n
				bytes += int64(len(rp.RecordBatches))
			}
		}
		f.rec.add(recs, bytes, lat)
		f.total.Add(recs)
	}
}

// scanBatches walks v2 record-batch headers (baseOffset int64, batchLength
// int32, …, lastOffsetDelta int32 at byte 23, …, recordCount int32 at byte
// 57) and returns the records in complete batches and the offset after the
// last complete batch (0 if none). A trailing partial batch, which brokers
// may send when a batch exceeds the size limit, is ignored.
func scanBatches(b []byte) (records, next int64) {
	const headerLen = 61
	for len(b) >= headerLen {
		base := int64(binary.BigEndian.Uint64(b))
		size := 12 + int64(int32(binary.BigEndian.Uint32(b[8:])))
		if size < headerLen || size > int64(len(b)) {
			break
		}
		records += int64(int32(binary.BigEndian.Uint32(b[57:])))
		next = base + int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
		b = b[size:]
	}
	return records, next
}
