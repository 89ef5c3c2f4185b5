package txn

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/test/harness"
)

// rawTxn drives one transactional id with raw requests (kgo routes each to
// its coordinator), so that the broker can be killed between any two.
type rawTxn struct {
	t     testing.TB
	cl    *kgo.Client
	id    string
	pid   int64
	epoch int16
}

func (r *rawTxn) request(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	var resp kmsg.Response
	var err error
	for range 100 { // retry while the restarted broker loads its coordinators
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err = r.cl.Request(ctx, req)
		cancel()
		if err == nil {
			return resp
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("%T: %v", req, err)
	return nil
}

// retry repeats a request while its error code is retriable
// (CONCURRENT_TRANSACTIONS, coordinator loading).
func (r *rawTxn) retry(name string, do func() int16) {
	r.t.Helper()
	for range 200 {
		code := do()
		if code == 0 {
			return
		}
		if err := kerr.ErrorForCode(code); !kerr.IsRetriable(err) && err != kerr.ConcurrentTransactions {
			r.t.Fatalf("%s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("%s: still retriable after 200 attempts", name)
}

func (r *rawTxn) init() {
	r.retry("InitProducerId", func() int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(r.id)
		req.TransactionTimeoutMillis = 60000
		resp := r.request(req).(*kmsg.InitProducerIDResponse)
		r.pid, r.epoch = resp.ProducerID, resp.ProducerEpoch
		return resp.ErrorCode
	})
}

// commitOffsets adds the group to the transaction and commits offset o of
// in-0 in it.
func (r *rawTxn) commitOffsets(group string, o int64) {
	r.retry("AddOffsetsToTxn", func() int16 {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = r.id, r.pid, r.epoch, group
		return r.request(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
	})
	r.retry("TxnOffsetCommit", func() int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = r.id, group, r.pid, r.epoch
		req.Generation = -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, o, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := r.request(req).(*kmsg.TxnOffsetCommitResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
		return 0
	})
}

func (r *rawTxn) end(commit bool) {
	r.retry("EndTxn", func() int16 {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = r.id, r.pid, r.epoch, commit
		return r.request(req).(*kmsg.EndTxnResponse).ErrorCode
	})
}

// fetchOffset returns the group's committed offset of in-0 (-1 none) and
// the partition's error code.
func fetchOffset(t *testing.T, r *rawTxn, group string, requireStable bool) (int64, int16) {
	t.Helper()
	var off int64
	var code int16
	r.retry("OffsetFetch", func() int16 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group, req.RequireStable = group, requireStable
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "in", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := r.request(req).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		off, code = -1, 0
		for _, g := range resp.Groups {
			if g.ErrorCode != 0 {
				return g.ErrorCode
			}
			for _, tp := range g.Topics {
				for _, p := range tp.Partitions {
					off, code = p.Offset, p.ErrorCode
				}
			}
		}
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				off, code = p.Offset, p.ErrorCode
			}
		}
		return 0
	})
	return off, code
}

// TestTxnOffsetCommitSurvivesKill commits offsets inside transactions and
// kills the broker (SIGKILL) before and after EndTxn: after each restart the
// group's offset is exactly the last committed transaction's, an open
// transaction's offset is reported unstable to RequireStable fetches and
// is dropped when the transaction is aborted.
func TestTxnOffsetCommitSurvivesKill(t *testing.T) {
	br := harness.Start(t)
	createTopic(t, br.Client(), "in", 1)
	newRaw := func() *rawTxn {
		return &rawTxn{t: t, cl: br.Client(kgo.RequestRetries(20)), id: "crash-tx"}
	}
	r := newRaw()
	r.init()
	check := func(step string, want int64, wantStableCode int16) {
		t.Helper()
		// EndTxn answers before its markers are written (as Kafka's): a
		// stable fetch tells when the offsets are applied.
		for i := 0; wantStableCode == 0 && i < 200; i++ {
			if _, code := fetchOffset(t, r, "g", true); code == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got, code := fetchOffset(t, r, "g", false); got != want || code != 0 {
			t.Fatalf("%s: offset %d (code %d), want %d", step, got, code, want)
		}
		if _, code := fetchOffset(t, r, "g", true); code != wantStableCode {
			t.Fatalf("%s: RequireStable code %d, want %d", step, code, wantStableCode)
		}
	}

	// 1. Committed, then killed.
	r.commitOffsets("g", 10)
	check("open transaction", -1, kerr.UnstableOffsetCommit.Code)
	r.end(true)
	check("committed", 10, 0)
	br.Kill()
	br.Restart()
	r = newRaw()
	r.init() // a new producer instance: epoch bump, nothing open
	check("committed, after kill", 10, 0)

	// 2. Killed with the transaction open: the offset stays pending over the
	// restart and is dropped when the next producer instance fences it.
	r.commitOffsets("g", 20)
	br.Kill()
	br.Restart()
	r = newRaw()
	check("open, after kill", 10, kerr.UnstableOffsetCommit.Code)
	r.init() // fences the old instance: its transaction is aborted
	check("aborted by fencing", 10, 0)

	// 3. Killed right after EndTxn.
	r.commitOffsets("g", 30)
	r.end(true)
	br.Kill()
	br.Restart()
	r = newRaw()
	check("committed just before kill", 30, 0)

	// 4. Aborted, then killed.
	r.init()
	r.commitOffsets("g", 40)
	r.end(false)
	br.Kill()
	br.Restart()
	r = newRaw()
	check("aborted before kill", 30, 0)
}
