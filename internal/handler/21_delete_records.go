package handler

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// DeleteRecords (API key 21): versions 0–2.
//
//	v1: no change (throttle after response)
//	v2: flexible versions
//
// Offset -1 means the high watermark. An offset above the high watermark or
// below -1 is OFFSET_OUT_OF_RANGE. Waiting for followers' log start offsets
// (Kafka's DelayedDeleteRecords) is not needed on a single node.
func (h *Handlers) deleteRecords(_ context.Context, rc *RequestContext, req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	im := h.deps.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			l, _, err := h.partitionLog(im, rt.Topic, rp.Partition)
			if err == nil {
				off := rp.Offset
				if off == -1 {
					off = l.HighWatermark()
				}
				if off < 0 {
					err = fmt.Errorf("%w: delete records before %d", commitlog.ErrOffsetOutOfRange, off)
				} else {
					sp.LowWatermark, err = l.DeleteRecordsBefore(off)
				}
			}
			if sp.ErrorCode = errorCode(err); isUnexpected(sp.ErrorCode) {
				h.logger().Error("delete records", "topic", rt.Topic, "partition", rp.Partition, "peer", rc.Peer, "err", err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
