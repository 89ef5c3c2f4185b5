// Command fraud flags suspicious payments by joining each payment with the
// account's recent history in a time window (a stream–stream join), and by
// counting payments per account in sliding windows.
//
// A payment is flagged when, within ten minutes before or after it, the
// same account had a password reset, or a login from another country than
// the payment's; or when it is the fourth or later payment of the account
// within one minute.
//
//	kavka topic create payments --partitions 3
//	kavka topic create account-events --partitions 3
//	go run ./examples/fraud -brokers localhost:9092 -eos
//
// Both input topics are keyed by account id (and so co-partitioned).
// Alerts go to fraud-alerts, keyed by account id, as JSON.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kavka-io/kavka/streams"
)

// Payment is a card payment.
type Payment struct {
	ID      string    `json:"id"`
	Amount  int64     `json:"amount_cents"`
	Country string    `json:"country"`
	Time    time.Time `json:"time"`
}

// AccountEvent is an entry of an account's history.
type AccountEvent struct {
	Kind    string    `json:"kind"` // "login", "password-reset", …
	Country string    `json:"country"`
	Time    time.Time `json:"time"`
}

// Alert explains why a payment looks fraudulent.
type Alert struct {
	Payment string `json:"payment"`
	Reason  string `json:"reason"`
}

type timed struct {
	Time time.Time `json:"time"`
}

// eventTime reads the "time" field of payments and account events; records
// without one keep the Kafka timestamp.
func eventTime(_ string, _, value []byte, kafkaTS time.Time) time.Time {
	v, err := streams.JSON[timed]().Deserialize(value)
	if err != nil || v.Time.IsZero() {
		return kafkaTS
	}
	return v.Time
}

func topology(paymentsTopic, historyTopic, out string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	payments := streams.Stream[string, Payment](b, paymentsTopic, streams.WithTimestampExtractor(eventTime))
	history := streams.Stream[string, AccountEvent](b, historyTopic, streams.WithTimestampExtractor(eventTime))

	joined := streams.JoinStreams(payments, history, func(_ string, p Payment, e AccountEvent) Alert {
		switch {
		case e.Kind == "password-reset":
			return Alert{Payment: p.ID, Reason: "payment within 10m of a password reset"}
		case e.Kind == "login" && e.Country != p.Country:
			return Alert{Payment: p.ID, Reason: fmt.Sprintf("payment from %s within 10m of a login from %s", p.Country, e.Country)}
		}
		return Alert{}
	}, streams.JoinTimeDifference(10*time.Minute, time.Minute), streams.Named("payment-history"))
	joined.Filter(func(_ string, a Alert) bool { return a.Reason != "" }).To(out)

	// Velocity: count each account's payments in sliding one-minute windows.
	ids := streams.MapValues(payments, func(_ string, p Payment) string { return p.ID })
	counts := streams.WindowedBySliding(ids.GroupByKey(), streams.SlidingWindows{TimeDifference: time.Minute, Grace: time.Minute}).
		Count(streams.Named("payments-per-minute"))
	fast := counts.ToStream().Filter(func(w streams.Windowed[string], n int64) bool { return n >= 4 })
	streams.Map(fast, func(w streams.Windowed[string], n int64) (string, Alert) {
		return w.Key, Alert{Reason: fmt.Sprintf("%d payments between %s and %s", n, w.Window.Start.UTC().Format(time.TimeOnly), w.Window.End.UTC().Format(time.TimeOnly))}
	}).To(out)
	return b.Build()
}

func main() {
	brokers := flag.String("brokers", "localhost:9092", "seed brokers, comma-separated")
	appID := flag.String("app", "fraud", "application id")
	eos := flag.Bool("eos", false, "exactly_once_v2 instead of at_least_once")
	flag.Parse()
	topo, err := topology("payments", "account-events", "fraud-alerts")
	if err != nil {
		log.Fatal(err)
	}
	g := streams.AtLeastOnce
	if *eos {
		g = streams.ExactlyOnceV2
	}
	app, err := streams.New(topo, streams.Brokers(strings.Split(*brokers, ",")...), streams.ApplicationID(*appID),
		streams.ProcessingGuarantee(g))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
