package chaos

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// freshClient returns a client that has learnt nothing yet (kgo keeps what it
// learns of the brokers, so metadata checks use a new one each time).
func (c *cluster) freshClient() (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RetryTimeout(5*time.Second), kgo.RequestTimeoutOverhead(5*time.Second))
}

// metadata asks for the metadata of topics (nil: all).
func (c *cluster) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	cl, err := c.freshClient()
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return kadm.NewClient(cl).Metadata(ctx, topics...)
}

// leader returns the leader of topic/p according to the cluster.
func (c *cluster) leader(ctx context.Context, topic string, p int32) (int32, error) {
	md, err := c.metadata(ctx, topic)
	if err != nil {
		return -1, err
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok || pd.Leader < 1 {
		return -1, fmt.Errorf("partition %s/%d has no leader", topic, p)
	}
	return pd.Leader, nil
}

// activeController returns the raft leader of the metadata quorum.
func (c *cluster) activeController(ctx context.Context) (int32, error) {
	cl, err := c.freshClient()
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].LeaderID < 1 {
		return -1, fmt.Errorf("no quorum leader in %+v", resp)
	}
	return resp.Topics[0].Partitions[0].LeaderID, nil
}

// eventually retries f every 200 ms for at most d and returns its last error.
func eventually(ctx context.Context, d time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	for {
		err := f()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fullISR returns nil once every partition of topic has a leader and all
// its replicas in the ISR (the test topics have RF=3, or one replica per
// node on smaller clusters).
func (c *cluster) fullISR(ctx context.Context, topic string, partitions int32) error {
	md, err := c.metadata(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	if int32(len(td.Partitions)) != partitions {
		return fmt.Errorf("topic %s has %d partitions", topic, len(td.Partitions))
	}
	for _, pd := range td.Partitions {
		if pd.Err != nil || pd.Leader < 1 || len(pd.ISR) != len(pd.Replicas) || len(pd.Replicas) != min(len(c.nodes), 3) {
			return fmt.Errorf("partition %d: leader %d replicas %v isr %v err %v", pd.Partition, pd.Leader, pd.Replicas, pd.ISR, pd.Err)
		}
	}
	return nil
}

// brokerView is one broker's answer to Metadata, reduced to what must agree.
func (c *cluster) brokerView(ctx context.Context, cl *kgo.Client, id int32) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest() // Topics nil: all topics
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		return "", err
	}
	var lines []string
	var brokers []int32
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	slices.Sort(brokers)
	lines = append(lines, fmt.Sprintf("brokers %v", brokers)) // ControllerID is any live broker in KRaft
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			isr := slices.Clone(p.ISR)
			slices.Sort(isr)
			lines = append(lines, fmt.Sprintf("%s/%d err %d leader %d epoch %d replicas %v isr %v",
				*t.Topic, p.Partition, p.ErrorCode, p.Leader, p.LeaderEpoch, p.Replicas, isr))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// converged returns nil once every broker gives the same metadata (topics,
// leaders, epochs, replicas, ISRs, live brokers, controller).
func (c *cluster) converged(ctx context.Context) error {
	cl, err := c.freshClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	var first string
	nodes := c.members()
	for _, nd := range nodes {
		v, err := c.brokerView(ctx, cl, int32(nd.ID))
		if err != nil {
			return fmt.Errorf("node %d: %w", nd.ID, err)
		}
		if nd == nodes[0] {
			first = v
			if !strings.Contains(v, fmt.Sprintf("brokers %v", c.ids())) {
				return fmt.Errorf("node %d sees %s", nd.ID, strings.SplitN(v, "\n", 2)[0])
			}
		} else if v != first {
			return fmt.Errorf("node %d disagrees with node %d:\n%s\nvs\n%s", nd.ID, nodes[0].ID, v, first)
		}
	}
	return nil
}

// partitionLog returns the record batches of a partition's segment files in
// dir, concatenated, and the offset after the last one.
func partitionLog(dir string) ([]byte, int64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(names) // 20-digit base offsets sort numerically
	var out []byte
	next := int64(0)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, 0, err
		}
		for len(b) >= 12+49 {
			base := int64(binary.BigEndian.Uint64(b))
			n := int(int32(binary.BigEndian.Uint32(b[8:])))
			if n <= 0 || 12+n > len(b) {
				break // preallocated zeros or a torn tail (recovery's job)
			}
			lastDelta := int64(int32(binary.BigEndian.Uint32(b[23:])))
			out = append(out, b[:12+n]...)
			next = base + lastDelta + 1
			b = b[12+n:]
		}
	}
	return out, next, nil
}

// isrs returns the ISR of every partition of topic.
func (c *cluster) isrs(ctx context.Context, topic string) (map[int32][]int32, error) {
	md, err := c.metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32][]int32{}
	for p, pd := range md.Topics[topic].Partitions {
		out[p] = pd.ISR
	}
	return out, nil
}

// compareLogs compares, after a clean stop, every node's copy of every
// partition of topic: the ISR members' copies must be byte-identical (with
// no writes in flight they have one log end offset); a replica outside the
// ISR must hold a prefix of them (it may lag, never diverge).
func (c *cluster) compareLogs(topic string, partitions int32, isr map[int32][]int32) []string {
	var bad []string
	for p := range partitions {
		type copy struct {
			id  int
			b   []byte
			end int64
		}
		var in, out []copy
		for _, nd := range c.nodes {
			b, end, err := partitionLog(filepath.Join(nd.Dir, fmt.Sprintf("%s-%d", topic, p)))
			if err != nil {
				bad = append(bad, fmt.Sprintf("node %d partition %d: %v", nd.ID, p, err))
				continue
			}
			if slices.Contains(isr[p], int32(nd.ID)) {
				in = append(in, copy{nd.ID, b, end})
			} else {
				out = append(out, copy{nd.ID, b, end})
			}
		}
		if len(in) == 0 {
			bad = append(bad, fmt.Sprintf("partition %d: no ISR member (isr %v)", p, isr[p]))
			continue
		}
		ref := in[0]
		for _, o := range append(in[1:], out...) {
			isIn := slices.Contains(isr[p], int32(o.id))
			n := len(o.b)
			if !isIn && n > len(ref.b) {
				n = len(ref.b)
			}
			if (isIn && !bytes.Equal(o.b, ref.b)) || !bytes.Equal(o.b[:n], ref.b[:n]) {
				k := 0
				for k < len(o.b) && k < len(ref.b) && o.b[k] == ref.b[k] {
					k++
				}
				bad = append(bad, fmt.Sprintf("partition %d: node %d (in ISR %v; %d bytes, end %d) differs from node %d (%d bytes, end %d) at byte %d",
					p, o.id, isIn, len(o.b), o.end, ref.id, len(ref.b), ref.end, k))
			}
		}
	}
	return bad
}

func kmsgErr(code int16) error { return kerr.ErrorForCode(code) }
