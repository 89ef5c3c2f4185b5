package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShutdownAnswersWaitingProduce: an acks=all produce waiting for its
// followers on a broker that is stopped with SIGTERM is answered
// NOT_LEADER_OR_FOLLOWER as soon as the controlled shutdown has moved the
// leadership away (Kafka completes delayed produces on a leader change),
// not at its request timeout or by a closed connection (docs/reliability.md:
// "SIGTERM can take 8 s"). The followers' fetches from the leader are held
// by the proxy, so the produce cannot complete any other way. The leader is
// a broker that is not the active controller: its own metadata replay
// learns of the move after the controller does.
func TestShutdownAnswersWaitingProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster")
	}
	c := startCluster(t, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequestTimeoutOverhead(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ctl int32
	if _, err := eventually(ctx, 60*time.Second, func() error {
		md, err := c.metadata(ctx)
		if err != nil || len(md.Brokers) != 3 {
			return fmt.Errorf("brokers %v: %v", md.Brokers, err)
		}
		ctl, err = c.activeController(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	leader := ctl%3 + 1 // any broker but the active controller
	const topic = "shutdown"
	if _, err := eventually(ctx, 60*time.Second, func() error { return createAssigned(ctx, cl, topic, leader) }); err != nil {
		t.Fatal(err)
	}
	if _, err := eventually(ctx, 60*time.Second, func() error {
		if err := c.fullISR(ctx, topic, 1); err != nil {
			return err
		}
		if l, err := c.leader(ctx, topic, 0); err != nil || l != leader {
			return fmt.Errorf("leader %d, want %d: %v", l, leader, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// From now on the followers' next fetches from the leader are held: the
	// high watermark cannot pass the produce below.
	for _, nd := range c.nodes {
		if int32(nd.ID) != leader {
			c.net.Update(nd.ID, int(leader), func(r *Rule) { r.HoldAPIKey = kmsg.Fetch.Int16() })
		}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 60_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch([]byte("waiting"))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	type result struct {
		resp kmsg.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := cl.Broker(int(leader)).Request(ctx, req)
		done <- result{resp, err}
	}()
	// The record is on the leader once the current epoch ends after it.
	if _, err := eventually(ctx, 30*time.Second, func() error {
		end, err := epochEnd(ctx, cl, topic, leader)
		if err == nil && end < 1 {
			err = fmt.Errorf("leader's log ends at %d", end)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	took, ok := c.node(leader).stop(syscall.SIGTERM, 60*time.Second)
	t.Logf("SIGTERM of node %d took %v", leader, took)
	if !ok {
		t.Errorf("node %d still running %v after SIGTERM", leader, took)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("no answer to the produce 90 s after the shutdown")
	}
	if res.err != nil {
		t.Fatalf("produce: %v, want NOT_LEADER_OR_FOLLOWER", res.err)
	}
	resp := res.resp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v", resp)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("produce answered %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
	if log := c.node(leader).log.String(); strings.Contains(log, "closed busy connections") {
		t.Errorf("the shutdown closed busy connections")
	}
}

// createAssigned creates topic with one partition on every node, led by
// leader, min.insync.replicas=2.
func createAssigned(ctx context.Context, cl *kgo.Client, topic string, leader int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = []int32{leader, leader%3 + 1, (leader+1)%3 + 1}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", ptr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("create topics: %d topics in the answer", len(resp.Topics))
	}
	return createErr(kerr.ErrorForCode(resp.Topics[0].ErrorCode), nil)
}

// epochEnd asks broker id where the partition's current leader epoch ends
// (OffsetForLeaderEpoch as a consumer): the leader's log end offset.
func epochEnd(ctx context.Context, cl *kgo.Client, topic string, id int32) (int64, error) {
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return -1, err
	}
	if len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("metadata of %s: %+v", topic, mresp.Topics)
	}
	epoch := mresp.Topics[0].Partitions[0].LeaderEpoch
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = epoch, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		return -1, err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("offset for leader epoch: %+v", resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	return p.EndOffset, kerr.ErrorForCode(p.ErrorCode)
}

// oneRecordBatch returns a record batch (magic 2) of one record with
// value v and no producer id.
func oneRecordBatch(v []byte) []byte {
	rec := []byte{0}                  // attributes
	rec = binary.AppendVarint(rec, 0) // timestamp delta
	rec = binary.AppendVarint(rec, 0) // offset delta
	rec = binary.AppendVarint(rec, -1)
	rec = binary.AppendVarint(rec, int64(len(v)))
	rec = append(rec, v...)
	rec = binary.AppendVarint(rec, 0) // headers
	b := make([]byte, 61, 61+len(rec)+binary.MaxVarintLen64)
	now := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2                                      // magic
	binary.BigEndian.PutUint64(b[27:], now)        // first timestamp
	binary.BigEndian.PutUint64(b[35:], now)        // max timestamp
	binary.BigEndian.PutUint64(b[43:], ^uint64(0)) // producer id -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)     // producer epoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff) // base sequence -1
	binary.BigEndian.PutUint32(b[57:], 1)          // record count
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
