package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kavka-io/kavka/streams"
)

func TestFraudAlerts(t *testing.T) {
	topo, err := topology("payments", "history", "alerts")
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pay := streams.NewTestInputTopic[string, Payment](d, "payments")
	hist := streams.NewTestInputTopic[string, AccountEvent](d, "history")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(hist.Pipe("acc1", AccountEvent{Kind: "login", Country: "FR", Time: t0}))
	must(pay.Pipe("acc1", Payment{ID: "p1", Amount: 100, Country: "FR", Time: t0.Add(time.Minute)}))      // same country: fine
	must(pay.Pipe("acc1", Payment{ID: "p2", Amount: 100, Country: "BR", Time: t0.Add(2 * time.Minute)}))  // other country: alert
	must(pay.Pipe("acc2", Payment{ID: "p3", Amount: 100, Country: "DE", Time: t0.Add(3 * time.Minute)}))  // no history
	must(hist.Pipe("acc2", AccountEvent{Kind: "password-reset", Time: t0.Add(8 * time.Minute)}))          // joins p3 later
	must(pay.Pipe("acc1", Payment{ID: "p4", Amount: 100, Country: "FR", Time: t0.Add(30 * time.Minute)})) // outside window
	for i, id := range []string{"q1", "q2", "q3", "q4"} {
		must(pay.Pipe("acc3", Payment{ID: id, Country: "IT", Time: t0.Add(40*time.Minute + time.Duration(i)*10*time.Second)}))
	}
	got, err := streams.NewTestOutputTopic[string, Alert](d, "alerts").ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	want := []streams.KeyValue[string, Alert]{
		{Key: "acc1", Value: Alert{Payment: "p2", Reason: "payment from BR within 10m of a login from FR"}},
		{Key: "acc2", Value: Alert{Payment: "p3", Reason: "payment within 10m of a password reset"}},
		{Key: "acc3", Value: Alert{Reason: "4 payments between 12:39:30 and 12:40:30"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
