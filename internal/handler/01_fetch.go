package handler

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/metadata"
)

// Fetch (API key 1): versions 4–16.
//
//	v4:  IsolationLevel, LastStableOffset, AbortedTransactions (KIP-98);
//	     v0–v3 are not served (Kafka 4.0 dropped them too)
//	v5:  LogStartOffset (KIP-107)
//	v7:  fetch sessions (KIP-227): SessionID, SessionEpoch, ForgottenTopics
//	v9:  CurrentLeaderEpoch fencing (KIP-320)
//	v11: Rack, PreferredReadReplica (KIP-392); always -1 here
//	v12: flexible versions; LastFetchedEpoch and DivergingEpoch (KIP-595),
//	     used by followers only — a single node has none
//	v13: topic ids instead of names (KIP-516)
//	v15: ReplicaState replaces ReplicaID (KIP-903)
//	v16: NodeEndpoints for leader changes (KIP-951); never needed on one node
//	v17: ReplicaDirectoryID (KIP-853) — not advertised
//
// The records are the stored batches, byte for byte: the log returns a file
// region of whole batches, never decoded or re-encoded. When the connection
// allows it (RequestContext.FileRegions) the regions stay in the files and
// the network sends them with sendfile(2) (docs/adr/0004-zero-copy-fetch.md);
// otherwise they are copied into the response once. An empty fetch waits in the purgatory until MinBytes
// are there, MaxWaitMillis passes, or the server stops.
func (h *Handlers) fetch(ctx context.Context, rc *RequestContext, req *kmsg.FetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	switch {
	case replica >= 0:
		// Follower fetch, from brokers of the cluster only: a client
		// posing as one must not get replica semantics (CVE-2018-1288).
		return h.replicaFetch(ctx, req, replica)
	case req.IsolationLevel != 0 && req.IsolationLevel != 1, req.MaxBytes < 0:
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}

	byID := req.Version >= 13
	var reqs []sessionRequest
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := sessionKey{partition: p.Partition}
			if byID {
				k.id = t.TopicID
			} else {
				k.topic = t.Topic
			}
			reqs = append(reqs, sessionRequest{key: k, fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes, currentEpoch: p.CurrentLeaderEpoch})
		}
	}
	var forgotten []sessionKey
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			k := sessionKey{partition: p}
			if byID {
				k.id = t.TopicID
			} else {
				k.topic = t.Topic
			}
			forgotten = append(forgotten, k)
		}
	}
	sessionID, epoch := req.SessionID, req.SessionEpoch
	if req.Version < 7 {
		sessionID, epoch = 0, sessionEpochFinal
	}
	parts, session, incremental, code := h.sessions.begin(h.clock().Now(), sessionID, epoch, reqs, forgotten)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if session != nil {
		resp.SessionID = session.id
	}

	f := &fetchRun{h: h, req: req, byID: byID, parts: parts, incremental: incremental, keepFiles: rc.FileRegions}
	f.run()
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if f.bytes < int(req.MinBytes) && !f.failed && wait > 0 && h.deps.Waits != nil {
		keys := f.keys()
		h.deps.Waits.Await(ctx, wait, keys, func() bool {
			f.run()
			return f.bytes >= int(req.MinBytes) || f.failed
		})
	}
	resp.Topics = f.topics
	h.sessions.end(session, f.sent)
	if len(f.regions) > 0 {
		return &fileFetchResponse{FetchResponse: resp, regions: f.regions}
	}
	return resp
}

// fetchRun is one pass over a fetch's partitions; a long-poll repeats it.
type fetchRun struct {
	h           *Handlers
	req         *kmsg.FetchRequest
	byID        bool
	parts       []*sessionPart
	incremental bool

	// Results of the last pass.
	topics []kmsg.FetchResponseTopic
	sent   []*sessionPart // the partitions answered, with what they were told
	bytes  int            // record bytes in the response
	failed bool           // a partition has an error: answer now
	buf    []byte

	// keepFiles leaves record bytes in the segment files: regions holds
	// them, one per partition with records, for the network to send.
	keepFiles bool
	regions   []FileRegion
}

// keys returns the partitions to wait on.
func (f *fetchRun) keys() []TopicPartition {
	im := f.h.deps.Image()
	keys := make([]TopicPartition, 0, len(f.parts))
	for _, p := range f.parts {
		if name := f.topicName(im, p.key); name != "" {
			keys = append(keys, TopicPartition{name, p.key.partition})
		}
	}
	return keys
}

func (f *fetchRun) topicName(im *metadata.Image, k sessionKey) string {
	if !f.byID {
		return k.topic
	}
	if t := im.TopicByID(k.id); t != nil {
		return t.Name
	}
	return ""
}

func (f *fetchRun) run() {
	im := f.h.deps.Image()
	f.topics, f.sent, f.bytes, f.failed = f.topics[:0], f.sent[:0], 0, false
	f.buf = f.buf[:0]
	ReleaseRegions(f.regions) // a long-poll's earlier pass
	f.regions = f.regions[:0]
	remaining := int(f.req.MaxBytes)
	if f.req.Version < 3 || remaining <= 0 || remaining > maxFetchBytes {
		remaining = maxFetchBytes
	}
	// Records are appended to f.buf and sliced out after the pass, since
	// f.buf may move while it grows; kept file regions are attached the
	// same way, since f.topics may move too.
	type span struct {
		topic, part, start, end int
		file                    *commitlog.Slice
	}
	var spans []span
	for _, sp := range f.parts {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = sp.key.partition
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		rp.PreferredReadReplica = -1
		start := len(f.buf)
		var file *commitlog.Slice
		name := f.topicName(im, sp.key)
		code := int16(0)
		if name == "" {
			code = kerr.UnknownTopicID.Code
		}
		if code == 0 {
			l, mp, err := f.h.partitionLog(im, name, sp.key.partition)
			if err != nil {
				code = errorCode(err)
			} else if code = f.h.leaderEpochCode(sp.currentEpoch, name, mp); code == 0 {
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = l.HighWatermark(), l.LastStableOffset(), l.LogStartOffset()
				maxOffset := rp.HighWatermark
				if f.req.IsolationLevel == 1 {
					maxOffset = rp.LastStableOffset
					rp.AbortedTransactions = f.h.abortedTransactions(l, sp.fetchOffset, maxOffset)
				}
				limit := min(int(sp.maxBytes), remaining)
				if sp.maxBytes < 0 {
					code = kerr.InvalidRequest.Code
				} else if limit > 0 || f.bytes == 0 {
					s, err := l.Read(sp.fetchOffset, int32(max(limit, 0)), maxOffset, f.bytes == 0)
					switch {
					case err != nil:
					case f.keepFiles && s.Len > 0:
						file = s
					default:
						f.buf, err = s.ReadAll(f.buf)
						s.Release()
					}
					if err != nil {
						code = errorCode(err)
						if code == kerr.UnknownServerError.Code {
							f.h.logger().Error("fetch", "topic", name, "partition", sp.key.partition, "offset", sp.fetchOffset, "err", err)
						}
					}
				}
			}
		}
		rp.ErrorCode = code
		n := len(f.buf) - start
		if file != nil {
			n = int(file.Len)
		}
		f.bytes += n
		remaining -= n
		if code != 0 {
			f.failed = true
		}
		sent := *sp
		sent.hw, sent.lso, sent.logStart = rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
		if f.incremental && n == 0 && code == 0 && sent.hw == sp.hw && sent.lso == sp.lso && sent.logStart == sp.logStart {
			continue // nothing new for this partition
		}
		f.sent = append(f.sent, &sent)
		// Group consecutive partitions of one topic, as they came.
		ti := len(f.topics) - 1
		if ti < 0 || f.topics[ti].Topic != sp.key.topic || f.topics[ti].TopicID != sp.key.id {
			t := kmsg.NewFetchResponseTopic()
			t.Topic, t.TopicID = sp.key.topic, sp.key.id
			f.topics = append(f.topics, t)
			ti++
		}
		if n == 0 {
			// Empty, never null: Kafka sends a zero-size record set, and
			// librdkafka (kcat, confluent-kafka) rejects MessageSetSize -1
			// in non-flexible Fetch versions ("invalid MessageSetSize -1").
			rp.RecordBatches = []byte{}
		}
		f.topics[ti].Partitions = append(f.topics[ti].Partitions, rp)
		if n > 0 {
			spans = append(spans, span{ti, len(f.topics[ti].Partitions) - 1, start, start + n, file})
		}
	}
	for _, s := range spans {
		field := &f.topics[s.topic].Partitions[s.part].RecordBatches
		if s.file != nil {
			f.regions = append(f.regions, FileRegion{Field: field, Slice: s.file})
			continue
		}
		*field = f.buf[s.start:s.end:s.end]
	}
}

// maxFetchBytes caps a fetch response's record bytes whatever the client
// asks for: Kafka's broker-side fetch.max.bytes default (KIP-541).
const maxFetchBytes = 55 << 20
