package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers (API key 61): version 0 (KIP-664), flexible.
//
// Lists the producers with state on each partition: epoch, last sequence,
// last timestamp, coordinator epoch and the start offset of an open
// transaction (the hanging-transaction tooling reads it).
func (h *Handlers) describeProducers(_ context.Context, _ *RequestContext, req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	im := h.deps.Image()
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			l, _, err := h.partitionLog(im, t.Topic, p)
			if err == nil {
				ps, perr := l.Producers()
				err = perr
				for _, pi := range ps {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.ProducerEpoch), pi.LastSequence
					ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, pi.CoordinatorEpoch, pi.CurrentTxnStartOffset
					rp.ActiveProducers = append(rp.ActiveProducers, ap)
				}
			}
			rp.ErrorCode = errorCode(err)
			if err != nil {
				rp.ErrorMessage = errorMessage(err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
