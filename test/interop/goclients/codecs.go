package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// codecNames are the RecordBatch attribute codec ids (bits 0–2).
var codecNames = map[int16]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

// checkCodecs reads the raw record batches of every partition of topic, as
// the broker stores and serves them, and counts them per codec. It fails if
// no batch carries want, or if a batch carries a codec other than want or
// none (clients may send a batch uncompressed when compressing does not
// shrink it).
func checkCodecs(ctx context.Context, brokers, topic, want string, out io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 {
		return fmt.Errorf("metadata of %s: %+v", topic, mresp.Topics)
	}
	t := mresp.Topics[0]
	counts := map[string]int{}
	for _, p := range t.Partitions {
		for offset := int64(0); ; {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxBytes = 8 << 20
			req.MaxWaitMillis = 100
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic, ft.TopicID = topic, t.TopicID
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p.Partition, offset, 8<<20
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			resp, err := req.RequestWith(ctx, cl.Broker(int(p.Leader)))
			if err != nil {
				return fmt.Errorf("fetch %s[%d]@%d: %w", topic, p.Partition, offset, err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				return fmt.Errorf("fetch %s[%d]@%d: unexpected response shape", topic, p.Partition, offset)
			}
			rp := resp.Topics[0].Partitions[0]
			if rp.ErrorCode != 0 {
				return fmt.Errorf("fetch %s[%d]@%d: error code %d", topic, p.Partition, offset, rp.ErrorCode)
			}
			next := offset
			for b := rp.RecordBatches; len(b) >= 61; {
				size := int(binary.BigEndian.Uint32(b[8:12])) + 12
				if size > len(b) {
					break // a partial batch at the end of the response
				}
				base := int64(binary.BigEndian.Uint64(b[0:8]))
				attrs := int16(binary.BigEndian.Uint16(b[21:23]))
				lastDelta := int64(binary.BigEndian.Uint32(b[23:27]))
				if attrs&0x20 == 0 { // not a control batch
					counts[codecNames[attrs&0x7]]++
				}
				next = base + lastDelta + 1
				b = b[size:]
			}
			if next >= rp.HighWatermark || next == offset {
				break
			}
			offset = next
		}
	}
	var names []string
	for name, n := range counts {
		names = append(names, fmt.Sprintf("%s:%d", name, n))
	}
	sort.Strings(names)
	fmt.Fprintf(out, "batches by codec: %v\n", names)
	if counts[want] == 0 {
		return fmt.Errorf("no batch of %s is %s-compressed (batches by codec: %v)", topic, want, names)
	}
	for name := range counts {
		if name != want && name != "none" {
			return fmt.Errorf("batches of %s use %s, want %s (batches by codec: %v)", topic, name, want, names)
		}
	}
	return nil
}
