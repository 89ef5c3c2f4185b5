package connect

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startPostgres runs test/connect/pg.sh to start a throwaway server and
// returns its connection URL. It skips the test only if PostgreSQL cannot
// be installed.
func startPostgres(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kavka-pg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	script, _ := filepath.Abs("pg.sh")
	out, err := exec.Command("sh", script, "start", dir, fmt.Sprint(port)).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			t.Skipf("PostgreSQL not available: %s", out)
		}
		t.Fatalf("pg.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("sh", script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("pg.sh stop: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func pgConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestPostgresSourceToSink: rows inserted in PostgreSQL arrive in a topic
// (incremental source, JSON with schemas), and records of that topic arrive
// as rows of an auto-created table (upsert sink keyed by id).
func TestPostgresSourceToSink(t *testing.T) {
	url := startPostgres(t)
	broker := startBroker(t)
	_, adm := client(t, broker)
	createTopic(t, adm, "pg-orders", 2)
	db := pgConn(t, url)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, customer TEXT, amount DOUBLE PRECISION, qty INTEGER)`); err != nil {
		t.Fatal(err)
	}
	insert := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := db.Exec(ctx, `INSERT INTO orders (customer, amount, qty) VALUES ($1, $2, $3)`, fmt.Sprintf("c%d", i), float64(i)*1.5, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, 200)

	w := startStandalone(t, broker, map[string]string{
		"offset.storage.file.filename": filepath.Join(t.TempDir(), "off"),
		"key.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":              "org.apache.kafka.connect.json.JsonConverter",
	})
	if _, _, err := w.PutConfig(ctx, "pg-src", map[string]string{
		"connector.class": "PostgresSource", "connection.url": url, "table.whitelist": "orders",
		"mode": "incrementing", "incrementing.column.name": "id", "topic.prefix": "pg-",
		"poll.interval.ms": "100", "batch.max.rows": "50",
		"transforms": "key", "transforms.key.type": "ValueToKey", "transforms.key.fields": "id",
	}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.PutConfig(ctx, "pg-sink", map[string]string{
		"connector.class": "PostgresSink", "connection.url": url, "topics": "pg-orders",
		"table.name.format": "${topic}_copy", "insert.mode": "upsert", "pk.mode": "record_key",
		"auto.create": "true", "tasks.max": "2",
	}, false); err != nil {
		t.Fatal(err)
	}

	// Rows arrive in the topic.
	consumer, _ := client(t, broker, kgo.ConsumeTopics("pg-orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := 0
	deadline := time.Now().Add(waitFor)
	for seen < 200 && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := consumer.PollFetches(pctx)
		cancel()
		seen += len(fs.Records())
	}
	if seen < 200 {
		t.Fatalf("topic has %d records, want 200", seen)
	}

	insert(200, 300) // picked up incrementally
	countRows := func(want int) {
		eventually(t, "rows in the sink table", func() error {
			var n int
			var sum float64
			err := db.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM "pg-orders_copy"`).Scan(&n, &sum)
			if err != nil {
				return err
			}
			wantSum := 1.5 * float64(want*(want-1)/2)
			if n != want || sum != wantSum {
				return fmt.Errorf("%d rows (sum %v), want %d (sum %v)", n, sum, want, wantSum)
			}
			return nil
		})
	}
	countRows(300)
	var customer string
	if err := db.QueryRow(ctx, `SELECT customer FROM "pg-orders_copy" WHERE id = 42`).Scan(&customer); err != nil || customer != "c41" {
		t.Errorf("row 42 customer = %q, %v; want c41", customer, err)
	}
}
