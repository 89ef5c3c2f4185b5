package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type cdcEvent struct {
	Key   map[string]any
	Op    string         `json:"op"`
	Bef   map[string]any `json:"before"`
	Aft   map[string]any `json:"after"`
	Src   map[string]any `json:"source"`
	TsMs  int64          `json:"ts_ms"`
	Topic string
}

// readCDC reads n events of topic from the start (at most waitFor).
func readCDC(t *testing.T, broker, topic string, n int) []cdcEvent {
	t.Helper()
	cl, _ := client(t, broker, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []cdcEvent
	deadline := time.Now().Add(waitFor)
	for len(out) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var e cdcEvent
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Errorf("value %s: %v", r.Value, err)
			}
			if err := json.Unmarshal(r.Key, &e.Key); err != nil {
				t.Errorf("key %s: %v", r.Key, err)
			}
			e.Topic = r.Topic
			out = append(out, e)
		})
	}
	if len(out) < n {
		t.Fatalf("%s: %d events, want %d", topic, len(out), n)
	}
	return out
}

// TestPostgresCDC: inserts, updates and deletes in PostgreSQL arrive as
// change events (logical replication, pgoutput) with before/after rows; the
// slot is acknowledged up to the stored offset once the records are
// written; after a restart the task resumes from its offset (rows changed
// while it was down arrive, nothing earlier is sent again).
func TestPostgresCDC(t *testing.T) {
	url := startPostgres(t)
	broker := startBroker(t)
	_, adm := client(t, broker)
	createTopic(t, adm, "cdc.public.items", 2)
	db := pgConn(t, url)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE items (id INT PRIMARY KEY, name TEXT, qty INT, price DOUBLE PRECISION, ok BOOLEAN, note TEXT)`)
	exec(`ALTER TABLE items REPLICA IDENTITY FULL`)

	props := map[string]string{
		"offset.storage.file.filename":   filepath.Join(t.TempDir(), "offsets"),
		"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable":   "false",
		"value.converter.schemas.enable": "false",
	}
	cfg := map[string]string{"connector.class": "PostgresCdcSource", "connection.url": url,
		"table.include.list": "public.items", "topic.prefix": "cdc", "slot.name": "kavka_test",
		"publication.name": "kavka_test_pub", "poll.interval.ms": "100"}
	w := startStandalone(t, broker, props)
	if _, _, err := w.PutConfig(ctx, "cdc", cfg, false); err != nil {
		t.Fatal(err)
	}
	slotLSN := func() (active bool, lsn string, err error) {
		err = db.QueryRow(ctx, `SELECT active, coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = 'kavka_test'`).Scan(&active, &lsn)
		return
	}
	eventually(t, "slot streaming", func() error {
		if active, _, err := slotLSN(); err != nil || !active {
			return fmt.Errorf("slot active=%v: %v", active, err)
		}
		return nil
	})

	// 100 inserts in 10 transactions, 20 updates in one, 10 deletes one by one.
	for b := 0; b < 100; b += 10 {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := b; i < b+10; i++ {
			if _, err := tx.Exec(ctx, `INSERT INTO items VALUES ($1, $2, $3, $4, $5, NULL)`, i, fmt.Sprintf("item-%d", i), i, float64(i)/4, i%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE items SET qty = qty + 1000, note = 'x' WHERE id < 20`)
	for i := 90; i < 100; i++ {
		exec(`DELETE FROM items WHERE id = $1`, i)
	}

	evs := readCDC(t, broker, "cdc.public.items", 130)
	if len(evs) != 130 {
		t.Errorf("%d events, want 130", len(evs))
	}
	ops := map[string]int{}
	for _, e := range evs {
		ops[e.Op]++
		id := int(toF(e.Key["id"]))
		switch e.Op {
		case "c":
			if e.Bef != nil || e.Aft["name"] != fmt.Sprintf("item-%d", id) || toF(e.Aft["qty"]) != float64(id) ||
				toF(e.Aft["price"]) != float64(id)/4 || e.Aft["ok"] != (id%2 == 0) || e.Aft["note"] != nil {
				t.Errorf("insert %d: %+v", id, e)
			}
		case "u":
			if toF(e.Bef["qty"]) != float64(id) || toF(e.Aft["qty"]) != float64(id+1000) || e.Aft["note"] != "x" || e.Bef["note"] != nil {
				t.Errorf("update %d: %+v", id, e)
			}
		case "d":
			if e.Aft != nil || toF(e.Bef["id"]) != float64(id) || e.Bef["name"] != fmt.Sprintf("item-%d", id) {
				t.Errorf("delete %d: %+v", id, e)
			}
		}
		if e.Src["table"] != "items" || e.Src["schema"] != "public" || e.Src["lsn"] == "" || e.TsMs == 0 {
			t.Errorf("source block: %+v", e)
		}
	}
	if ops["c"] != 100 || ops["u"] != 20 || ops["d"] != 10 {
		t.Errorf("ops = %v, want c:100 u:20 d:10", ops)
	}

	// The slot is acknowledged exactly up to the stored offset.
	var stored string
	eventually(t, "slot acknowledged at the stored offset", func() error {
		ob, err := w.Offsets(ctx, "cdc")
		if err != nil {
			return err
		}
		if len(ob.Offsets) != 1 {
			return fmt.Errorf("offsets %+v", ob)
		}
		stored, _ = ob.Offsets[0].Offset["lsn"].(string)
		_, lsn, err := slotLSN()
		if err != nil {
			return err
		}
		if lsn != stored {
			return fmt.Errorf("confirmed_flush_lsn %s, stored offset %s", lsn, stored)
		}
		return nil
	})
	t.Logf("slot confirmed_flush_lsn = stored offset = %s", stored)

	// Restart: changes made while the worker is down arrive; nothing before
	// the stored offset is sent again.
	w.stop()
	for i := 100; i < 150; i++ {
		exec(`INSERT INTO items VALUES ($1, $2, $3, 0, true, NULL)`, i, fmt.Sprintf("item-%d", i), i)
	}
	w2 := startStandalone(t, broker, props)
	if _, _, err := w2.PutConfig(ctx, "cdc", cfg, false); err != nil {
		t.Fatal(err)
	}
	evs = readCDC(t, broker, "cdc.public.items", 180)
	time.Sleep(time.Second) // would-be duplicates have time to show up
	evs = readCDC(t, broker, "cdc.public.items", len(evs))
	seen := map[string]int{}
	for _, e := range evs {
		seen[fmt.Sprintf("%s%v", e.Op, e.Key["id"])]++
	}
	for i := 100; i < 150; i++ {
		if seen[fmt.Sprintf("c%d", i)] != 1 {
			t.Errorf("insert %d seen %d times after the restart, want 1", i, seen[fmt.Sprintf("c%d", i)])
		}
	}
	if len(evs) != 180 {
		t.Errorf("%d events after the restart, want 180 (no re-sends after a clean stop)", len(evs))
	}
}

func toF(v any) float64 {
	f, _ := v.(float64)
	return f
}
