package chaos

import (
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
