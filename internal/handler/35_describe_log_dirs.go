package handler

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs (API key 35): versions 0–4.
//
//	v1: no change (throttle after response)
//	v2: flexible versions
//	v3: top-level ErrorCode
//	v4: TotalBytes, UsableBytes (KIP-827); -1 here, Kavka does not statfs yet
//
// One log directory: the broker's data directory. Topics null means all.
func (h *Handlers) describeLogDirs(_ context.Context, _ *RequestContext, req *kmsg.DescribeLogDirsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	im := h.deps.Image()
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = h.deps.LogDir
	dir.TotalBytes, dir.UsableBytes = -1, -1

	want := make(map[string][]int32)
	if req.Topics == nil {
		for _, name := range im.TopicNames() {
			t := im.Topic(name)
			for i := range t.Partitions {
				want[name] = append(want[name], int32(i))
			}
		}
	} else {
		for _, t := range req.Topics {
			want[t.Topic] = append(want[t.Topic], t.Partitions...)
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		for _, p := range want[name] {
			l, _, err := h.partitionLog(im, name, p)
			if err != nil {
				continue // Kafka leaves out partitions it does not host
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p
			dp.Size = l.Size()
			dp.OffsetLag = max(l.LogEndOffset()-l.HighWatermark(), 0)
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
