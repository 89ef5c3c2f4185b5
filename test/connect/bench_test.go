package connect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Benchmarks of records per second through the connectors, each beside a
// baseline in the same run (docs/benchmarks.md, "Connect"):
//
//	go test ./test/connect -run - -bench . -benchtime 1x
const benchN = 50000

func waitEnd(b *testing.B, adm *kadm.Client, topic string, n int64) {
	deadline := time.Now().Add(3 * waitFor)
	for time.Now().Before(deadline) {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err == nil {
			var sum int64
			ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			if sum >= n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("topic %s did not reach %d records", topic, n)
}

func report(b *testing.B, start time.Time, n int) {
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkFile(b *testing.B) {
	broker := startBroker(b)
	cl, adm := client(b, broker)
	line := strings.Repeat("x", 99) + "\n"
	b.Run("baseline=kgo-produce", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			topic := fmt.Sprintf("raw%d", i)
			createTopic(b, adm, topic, 1)
			start := time.Now()
			for range benchN {
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(line[:99])}, nil)
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			report(b, start, benchN)
		}
	})
	b.Run("FileStreamSource", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			topic := fmt.Sprintf("file%d", i)
			createTopic(b, adm, topic, 1)
			in := filepath.Join(b.TempDir(), "in")
			if err := os.WriteFile(in, []byte(strings.Repeat(line, benchN)), 0o644); err != nil {
				b.Fatal(err)
			}
			w := startStandalone(b, broker, nil)
			start := time.Now()
			if _, _, err := w.PutConfig(context.Background(), "src", map[string]string{"connector.class": "FileStreamSource",
				"file": in, "topic": topic}, false); err != nil {
				b.Fatal(err)
			}
			waitEnd(b, adm, topic, benchN)
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
	b.Run("FileStreamSink", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			topic := fmt.Sprintf("sink%d", i)
			createTopic(b, adm, topic, 1)
			for range benchN {
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(line[:99])}, nil)
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			out := filepath.Join(b.TempDir(), "out")
			w := startStandalone(b, broker, nil)
			b.StartTimer()
			start := time.Now()
			if _, _, err := w.PutConfig(context.Background(), "sink", map[string]string{"connector.class": "FileStreamSink",
				"file": out, "topics": topic}, false); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(3 * waitFor)
			for {
				st, _ := os.Stat(out)
				if st != nil && st.Size() >= int64(benchN*len(line)) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("sink file incomplete")
				}
				time.Sleep(20 * time.Millisecond)
			}
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
}

func BenchmarkPostgres(b *testing.B) {
	url := startPostgres(b)
	broker := startBroker(b)
	cl, adm := client(b, broker)
	db := pgConn(b, url)
	ctx := context.Background()
	rows := func() [][]any {
		out := make([][]any, benchN)
		for i := range out {
			out[i] = []any{int64(i + 1), fmt.Sprintf("customer-%d", i), float64(i) * 1.5}
		}
		return out
	}()
	json := func(i int) []byte {
		return fmt.Appendf(nil, `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"field":"customer"},{"type":"double","optional":true,"field":"amount"}],"optional":false},"payload":{"id":%d,"customer":"customer-%d","amount":%g}}`, i+1, i, float64(i)*1.5)
	}
	count := func(table string) int {
		var n int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	props := map[string]string{"key.converter": "org.apache.kafka.connect.json.JsonConverter",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter"}

	b.Run("baseline=pgx-copy", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			table := fmt.Sprintf("copy%d", i)
			if _, err := db.Exec(ctx, "CREATE TABLE "+table+" (id BIGINT PRIMARY KEY, customer TEXT, amount DOUBLE PRECISION)"); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := db.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "customer", "amount"}, pgx.CopyFromRows(rows)); err != nil {
				b.Fatal(err)
			}
			report(b, start, benchN)
		}
	})
	b.Run("PostgresSink", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			topic := fmt.Sprintf("pgsink%d", i)
			createTopic(b, adm, topic, 1)
			for j := range benchN {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: json(j)}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			w := startStandalone(b, broker, props)
			b.StartTimer()
			start := time.Now()
			if _, _, err := w.PutConfig(ctx, "pgsink", map[string]string{"connector.class": "PostgresSink", "connection.url": url,
				"topics": topic, "auto.create": "true", "insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"}, false); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(3 * waitFor)
			for count(topic) < benchN {
				if time.Now().After(deadline) {
					b.Fatalf("sink wrote %d rows", count(topic))
				}
				time.Sleep(20 * time.Millisecond)
			}
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
	b.Run("baseline=pgx-select", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			rs, err := db.Query(ctx, "SELECT * FROM copy0")
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rs.Next() {
				if _, err := rs.Values(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			rs.Close()
			report(b, start, n)
		}
	})
	b.Run("PostgresSource", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			topic := fmt.Sprintf("src%d-copy0", i)
			createTopic(b, adm, topic, 1)
			w := startStandalone(b, broker, props)
			b.StartTimer()
			start := time.Now()
			if _, _, err := w.PutConfig(ctx, "pgsrc", map[string]string{"connector.class": "PostgresSource", "connection.url": url,
				"table.whitelist": "copy0", "topic.prefix": fmt.Sprintf("src%d-", i), "poll.interval.ms": "50"}, false); err != nil {
				b.Fatal(err)
			}
			waitEnd(b, adm, topic, benchN)
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
}

// benchSeq names the topics and tables of the benchmarks below uniquely
// (with -count, a sub-benchmark runs again on the same broker).
var benchSeq atomic.Int64

// BenchmarkHTTPSink: topic → HttpSink (batches of 500) against an httptest
// server, beside posting the same batches straight from memory.
func BenchmarkHTTPSink(b *testing.B) {
	broker := startBroker(b)
	cl, adm := client(b, broker)
	var mu sync.Mutex
	lines := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		lines += bytes.Count(body, []byte{'\n'}) + 1
		mu.Unlock()
	}))
	defer hs.Close()
	got := func() int { mu.Lock(); defer mu.Unlock(); return lines }
	reset := func() { mu.Lock(); lines = 0; mu.Unlock() }
	value := []byte(strings.Repeat("x", 99))
	const batch = 500
	b.Run("baseline=net/http-post", func(b *testing.B) {
		for b.Loop() {
			reset()
			start := time.Now()
			body := bytes.Repeat(append(append([]byte{}, value...), '\n'), batch)
			body = body[:len(body)-1]
			for range benchN / batch {
				resp, err := http.Post(hs.URL, "text/plain", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
			report(b, start, benchN)
		}
	})
	b.Run("HttpSink", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			reset()
			topic := fmt.Sprintf("http%d", benchSeq.Add(1))
			createTopic(b, adm, topic, 1)
			for range benchN {
				cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, nil)
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			w := startStandalone(b, broker, nil)
			b.StartTimer()
			start := time.Now()
			if _, _, err := w.PutConfig(context.Background(), "http", map[string]string{"connector.class": "HttpSink",
				"topics": topic, "http.api.url": hs.URL, "batch.max.size": fmt.Sprint(batch), "batch.separator": "\n"}, false); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(3 * waitFor)
			for got() < benchN {
				if time.Now().After(deadline) {
					b.Fatalf("endpoint got %d lines", got())
				}
				time.Sleep(10 * time.Millisecond)
			}
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
}

// BenchmarkPostgresCDC: rows COPYed into a table reach a topic through the
// CDC source (logical replication), timed from the start of the COPY with
// the connector already streaming; beside the incremental source reading
// the same rows, and the COPY alone.
func BenchmarkPostgresCDC(b *testing.B) {
	url := startPostgres(b)
	broker := startBroker(b)
	_, adm := client(b, broker)
	db := pgConn(b, url)
	ctx := context.Background()
	rows := make([][]any, benchN)
	for i := range rows {
		rows[i] = []any{int64(i + 1), fmt.Sprintf("customer-%d", i), float64(i) * 1.5}
	}
	props := map[string]string{"key.converter": "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":              "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"}
	newTable := func(name string) {
		if _, err := db.Exec(ctx, "CREATE TABLE "+name+" (id BIGINT PRIMARY KEY, customer TEXT, amount DOUBLE PRECISION)"); err != nil {
			b.Fatal(err)
		}
	}
	copyRows := func(name string) {
		if _, err := db.CopyFrom(ctx, pgx.Identifier{name}, []string{"id", "customer", "amount"}, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline=pgx-copy", func(b *testing.B) {
		for b.Loop() {
			name := fmt.Sprintf("cdccopy%d", benchSeq.Add(1))
			newTable(name)
			start := time.Now()
			copyRows(name)
			report(b, start, benchN)
		}
	})
	b.Run("baseline=PostgresSource-incremental", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			i := benchSeq.Add(1)
			newTable(fmt.Sprintf("cdcinc%d", i))
			copyRows(fmt.Sprintf("cdcinc%d", i))
			topic := fmt.Sprintf("inc%d-cdcinc%d", i, i)
			createTopic(b, adm, topic, 1)
			w := startStandalone(b, broker, props)
			b.StartTimer()
			start := time.Now()
			if _, _, err := w.PutConfig(ctx, "inc", map[string]string{"connector.class": "PostgresSource", "connection.url": url,
				"table.whitelist": fmt.Sprintf("cdcinc%d", i), "topic.prefix": fmt.Sprintf("inc%d-", i), "poll.interval.ms": "50"}, false); err != nil {
				b.Fatal(err)
			}
			waitEnd(b, adm, topic, benchN)
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
	b.Run("PostgresCdcSource", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			name := fmt.Sprintf("cdc%d", benchSeq.Add(1))
			newTable(name)
			topic := "bench.public." + name
			createTopic(b, adm, topic, 1)
			w := startStandalone(b, broker, props)
			if _, _, err := w.PutConfig(ctx, "cdc", map[string]string{"connector.class": "PostgresCdcSource", "connection.url": url,
				"table.include.list": name, "topic.prefix": "bench", "slot.name": name, "publication.name": name}, false); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(waitFor)
			for {
				var active bool
				_ = db.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&active)
				if active {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("slot not streaming")
				}
				time.Sleep(20 * time.Millisecond)
			}
			b.StartTimer()
			start := time.Now()
			copyRows(name)
			waitEnd(b, adm, topic, benchN)
			report(b, start, benchN)
			b.StopTimer()
			w.stop()
			b.StartTimer()
		}
	})
}
