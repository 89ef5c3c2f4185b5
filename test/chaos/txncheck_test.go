package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestCheckTxn(t *testing.T) {
	op := func(id, status string, commit time.Duration, vals ...string) txnOp {
		o := txnOp{ID: id, Proc: "tp0", Status: status, Commit: commit}
		for _, v := range vals {
			o.Recs = append(o.Recs, txnRec{Partition: 0, Value: v})
		}
		return o
	}
	rd := func(off int64, v string, at time.Duration) txnRead {
		return txnRead{Proc: "rc0", Partition: 0, Offset: off, Value: v, At: at}
	}
	ok := []txnOp{op("a", txnCommitted, 1, "a.0", "a.1"), op("b", txnAborted, -1, "b.0"), op("c", txnIndeterminate, 5, "c.0", "c.1")}
	valid := []txnRead{rd(0, "a.0", 2), rd(1, "a.1", 2)}
	if res := CheckTxn(ok, valid); len(res.Anomalies) != 0 || res.Committed != 1 || res.Aborted != 1 || res.Indeterminate != 1 {
		t.Fatalf("valid history: %+v", res)
	}
	for _, c := range []struct {
		kind  string
		reads []txnRead
	}{
		{"aborted-read", append(valid, rd(3, "b.0", 3))},
		{"precommitted-read", []txnRead{rd(0, "a.0", 0), rd(1, "a.1", 2)}},
		{"phantom-read", append(valid, rd(3, "x", 3))},
		{"lost-write", valid[:1]},
		{"fractured-read", append(valid, rd(3, "c.0", 6))},
		{"duplicate", append(valid, rd(4, "a.0", 3))},
		{"inconsistent-offsets", append(valid, rd(1, "c.0", 6))},
		{"nonmonotonic-poll", []txnRead{rd(1, "a.1", 2), rd(0, "a.0", 2)}},
	} {
		if res := CheckTxn(ok, c.reads); len(res.Anomalies[c.kind]) == 0 {
			t.Errorf("%s not found: %+v", c.kind, res.Anomalies)
		}
	}
}

// TestCheckTxnDescribesLostRecords: a lost-write report names each
// record's acknowledged offset and what was read there instead, and the
// producer's timeline shows the next transaction's produce error.
func TestCheckTxnDescribesLostRecords(t *testing.T) {
	a := txnOp{ID: "tp0.1", Proc: "tp0", Status: txnCommitted, Commit: 1, Recs: []txnRec{
		{Partition: 0, Value: "tp0.1.0", Acked: true, Offset: 7, Leader: 2, LeaderEpoch: 5},
		{Partition: 1, Value: "tp0.1.1", Acked: true, Offset: 3, Leader: 3, LeaderEpoch: 4},
	}}
	b := txnOp{ID: "tp0.2", Proc: "tp0", Status: txnAborted, Commit: -1, Recs: []txnRec{
		{Partition: 1, Value: "tp0.2.0", Offset: -1, Leader: -1, LeaderEpoch: -1, Err: "OUT_OF_ORDER_SEQUENCE_NUMBER"},
	}}
	reads := []txnRead{
		{Proc: "rc0", Partition: 0, Offset: 7, Value: "tp0.1.0", At: 2},
		{Proc: "rc0", Partition: 1, Offset: 3, Value: "tp1.9.0", At: 2},
	}
	res := CheckTxn([]txnOp{a, b}, reads)
	lost := res.Anomalies["lost-write"]
	if len(lost) != 1 || !strings.Contains(lost[0], `tp0.1.1 acked at 1/3`) || !strings.Contains(lost[0], `read holding "tp1.9.0"`) ||
		!strings.Contains(lost[0], "epoch 4") {
		t.Fatalf("lost-write = %q, want the acknowledged offset, epoch and the value read there", lost)
	}
	if len(res.Broken) != 1 || res.Broken[0] != "tp0.1" {
		t.Fatalf("Broken = %v, want [tp0.1]", res.Broken)
	}
	if tl := txnTimeline([]txnOp{a, b}, "tp0.1"); !strings.Contains(tl, "tp0.2 aborted") || !strings.Contains(tl, "OUT_OF_ORDER_SEQUENCE_NUMBER") {
		t.Fatalf("timeline = %s, want the next transaction and its error", tl)
	}
}
