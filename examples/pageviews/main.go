// Command pageviews counts page views per region per minute (website
// activity tracking). Page views (key user id, JSON value) are joined with
// the users table (key user id, value region), re-keyed by region and
// counted in one-minute tumbling windows on event time; each window's
// final count is emitted once, after its 10-second grace period closes
// (suppress until window closes).
//
//	kavka topic create pageviews --partitions 3
//	kavka topic create users --partitions 3
//	go run ./examples/pageviews -brokers localhost:9092
//
// Output topic pageviews-per-region: key "region@2026-01-01T10:00:00Z",
// value the count as decimal text.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kavka-io/kavka/streams"
)

// PageView is one view of a page.
type PageView struct {
	User string    `json:"user"`
	Page string    `json:"page"`
	Time time.Time `json:"time"`
}

// eventTime reads the view's own timestamp; records that do not parse
// keep the Kafka timestamp.
func eventTime(_ string, _, value []byte, kafkaTS time.Time) time.Time {
	pv, err := streams.JSON[PageView]().Deserialize(value)
	if err != nil || pv.Time.IsZero() {
		return kafkaTS
	}
	return pv.Time
}

func topology(views, users, out string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	pv := streams.Stream[string, PageView](b, views, streams.WithTimestampExtractor(eventTime))
	regions := streams.Table[string, string](b, users, streams.Named("user-regions"))
	withRegion := streams.LeftJoinStreamTable(pv, regions, func(_ string, _ PageView, region *string) string {
		if region == nil {
			return "unknown"
		}
		return *region
	})
	byRegion := streams.SelectKey(withRegion, func(_ string, region string) string { return region })
	counts := streams.WindowedBy(byRegion.GroupByKey(), streams.TimeWindows{Size: time.Minute, Grace: 10 * time.Second}).
		Count(streams.Named("views-per-region"))
	final := streams.SuppressUntilWindowCloses(counts).ToStream()
	streams.Map(final, func(w streams.Windowed[string], n int64) (string, string) {
		return w.Key + "@" + w.Window.Start.UTC().Format(time.RFC3339), strconv.FormatInt(n, 10)
	}).To(out)
	return b.Build()
}

func main() {
	brokers := flag.String("brokers", "localhost:9092", "seed brokers, comma-separated")
	appID := flag.String("app", "pageviews", "application id")
	flag.Parse()
	topo, err := topology("pageviews", "users", "pageviews-per-region")
	if err != nil {
		log.Fatal(err)
	}
	app, err := streams.New(topo, streams.Brokers(strings.Split(*brokers, ",")...), streams.ApplicationID(*appID))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
