// Command wordcount counts the words of the lines in a topic and serves
// the counts over HTTP from the running instance's state store
// (interactive queries).
//
//	kavka topic create text-lines --partitions 3
//	go run ./examples/wordcount -brokers localhost:9092 -http :8080
//	echo "hello streams hello" | kavka produce text-lines
//	curl localhost:8080/counts/hello      # {"word":"hello","count":2}
//	curl localhost:8080/counts            # every word this instance owns
//
// Counts are also written to the topic word-counts (key word, value a
// big-endian int64). With several instances, each serves the words of
// the partitions it owns; /counts/{word} answers 404 elsewhere.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/kavka-io/kavka/streams"
)

// topology splits lines into lower-case words and counts them in the
// store "word-counts".
func topology(in, out string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	lines := streams.Stream[string, string](b, in)
	words := streams.FlatMap(lines, func(_ string, line string) []streams.KeyValue[string, string] {
		var kvs []streams.KeyValue[string, string]
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			kvs = append(kvs, streams.KeyValue[string, string]{Key: w, Value: w})
		}
		return kvs
	})
	words.GroupByKey().Count(streams.Named("word-counts")).ToStream().To(out)
	return b.Build()
}

// handler serves the store of a running app.
func handler(app *streams.App) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts/{word}", func(w http.ResponseWriter, r *http.Request) {
		st, err := streams.QueryKeyValueStore[string, int64](app, "word-counts")
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		word := r.PathValue("word")
		n, ok, err := st.Get(word)
		switch {
		case errors.Is(err, streams.ErrNotRunning):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !ok:
			http.NotFound(w, r)
		default:
			json.NewEncoder(w).Encode(map[string]any{"word": word, "count": n})
		}
	})
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		st, err := streams.QueryKeyValueStore[string, int64](app, "word-counts")
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		all := map[string]int64{}
		if err := st.All(func(k string, v int64) bool { all[k] = v; return true }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(all)
	})
	return mux
}

func main() {
	brokers := flag.String("brokers", "localhost:9092", "seed brokers, comma-separated")
	appID := flag.String("app", "wordcount", "application id")
	in := flag.String("in", "text-lines", "input topic")
	out := flag.String("out", "word-counts", "output topic")
	addr := flag.String("http", ":8080", "interactive query listen address")
	eos := flag.Bool("eos", false, "exactly_once_v2 instead of at_least_once")
	flag.Parse()
	if err := run(*brokers, *appID, *in, *out, *addr, *eos); err != nil {
		log.Fatal(err)
	}
}

func run(brokers, appID, in, out, addr string, eos bool) error {
	topo, err := topology(in, out)
	if err != nil {
		return err
	}
	g := streams.AtLeastOnce
	if eos {
		g = streams.ExactlyOnceV2
	}
	app, err := streams.New(topo, streams.Brokers(strings.Split(brokers, ",")...), streams.ApplicationID(appID),
		streams.ProcessingGuarantee(g))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: handler(app), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	var httpErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr = err
			stop()
		}
	}()
	runErr := app.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	wg.Wait()
	if runErr != nil {
		return fmt.Errorf("wordcount: %w", runErr)
	}
	return httpErr
}
