package streams_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kavka-io/kavka/streams"
)

// Word count, run in memory by the test driver.
func ExampleNewTestDriver() {
	b := streams.NewBuilder()
	lines := streams.Stream[string, string](b, "lines")
	words := streams.FlatMap(lines, func(_, line string) []streams.KeyValue[string, string] {
		var kvs []streams.KeyValue[string, string]
		for _, w := range strings.Fields(line) {
			kvs = append(kvs, streams.KeyValue[string, string]{Key: w, Value: w})
		}
		return kvs
	})
	words.GroupByKey().Count(streams.Named("counts")).ToStream().To("counts")
	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := streams.NewTestDriver(topo)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "lines")
	in.Pipe("", "to be or not to be")
	out, _ := streams.NewTestOutputTopic[string, int64](d, "counts").ReadKeyValuesToMap()
	fmt.Println(out["to"], out["be"], out["or"])
	// Output: 2 2 1
}

// Tumbling windows with a grace period; the suppressed table emits each
// window's final count once the window closes.
func ExampleWindowedBy() {
	b := streams.NewBuilder()
	clicks := streams.Stream[string, string](b, "clicks")
	counts := streams.WindowedBy(clicks.GroupByKey(), streams.TimeWindows{Size: time.Minute, Grace: 5 * time.Second}).Count()
	streams.SuppressUntilWindowCloses(counts).ToStream().
		Foreach(func(w streams.Windowed[string], n int64) {
			fmt.Printf("%s %s-%s: %d\n", w.Key, w.Window.Start.UTC().Format("15:04"), w.Window.End.UTC().Format("15:04"), n)
		})
	topo, _ := b.Build()
	d, _ := streams.NewTestDriver(topo)
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "clicks")
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	in.PipeAt("home", "", t0.Add(10*time.Second))
	in.PipeAt("home", "", t0.Add(50*time.Second))
	in.PipeAt("home", "", t0.Add(62*time.Second))
	in.PipeAt("home", "", t0.Add(58*time.Second)) // late but within grace
	in.PipeAt("home", "", t0.Add(70*time.Second)) // closes 09:00-09:01
	// Output: home 09:00-09:01: 3
}

// upper is a custom processor that upper-cases values and counts them in
// a state store.
type upper struct {
	ctx   streams.ProcessorContext[string, string]
	store streams.KeyValueStore[string, int64]
}

func (p *upper) Init(ctx streams.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	p.store, err = streams.GetKeyValueStore[string, int64](ctx, "seen")
	return err
}

func (p *upper) Process(r streams.Record[string, string]) error {
	n, _, err := p.store.Get(r.Key)
	if err != nil {
		return err
	}
	if err := p.store.Put(r.Key, n+1); err != nil {
		return err
	}
	return p.ctx.Forward(streams.Record[string, string]{Key: r.Key, Value: fmt.Sprintf("%s#%d", strings.ToUpper(r.Value), n+1)})
}

// The processor API: a custom step with a state store.
func ExampleProcess() {
	b := streams.NewBuilder()
	streams.AddKeyValueStore[string, int64](b, "seen")
	s := streams.Stream[string, string](b, "in")
	streams.Process(s, func() streams.Processor[string, string, string, string] { return &upper{} }, []string{"seen"}).
		Foreach(func(k, v string) { fmt.Println(k, v) })
	topo, _ := b.Build()
	d, _ := streams.NewTestDriver(topo)
	defer d.Close()
	in := streams.NewTestInputTopic[string, string](d, "in")
	in.Pipe("a", "x")
	in.Pipe("a", "y")
	// Output:
	// a X#1
	// a Y#2
}

// Running a topology against brokers, exactly once.
func ExampleNew() {
	b := streams.NewBuilder()
	streams.Stream[string, string](b, "orders").GroupByKey().Count(streams.Named("orders-per-customer"))
	topo, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	app, err := streams.New(topo,
		streams.Brokers("localhost:9092"),
		streams.ApplicationID("order-counts"),
		streams.ProcessingGuarantee(streams.ExactlyOnceV2),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	// Interactive query while the app runs.
	time.Sleep(10 * time.Second)
	if st, err := streams.QueryKeyValueStore[string, int64](app, "orders-per-customer"); err == nil {
		n, _, _ := st.Get("customer-42")
		fmt.Println("customer-42 ordered", n, "times")
	}
	cancel() // clean shutdown: commit, close stores, leave the group
	if err := <-done; err != nil {
		fmt.Println(err)
	}
}
