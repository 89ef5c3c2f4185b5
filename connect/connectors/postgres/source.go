package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kavka-io/kavka/connect"
)

// Source reads tables incrementally.
type Source struct{ cfg map[string]string }

var sourceDef = connect.ConfigDef{
	{Name: "connection.url", Type: connect.TypeString, Required: true, Importance: connect.High,
		Doc: "PostgreSQL connection string."},
	{Name: "table.whitelist", Type: connect.TypeList, Required: true, Importance: connect.High,
		Doc: "Tables to read; tasks split them."},
	{Name: "mode", Type: connect.TypeString, Default: "incrementing", Importance: connect.High,
		Doc:   "incrementing: rows with a larger incrementing.column.name; timestamp: rows with a later timestamp.column.name (ties broken by the incrementing column if set).",
		Valid: connect.OneOf("incrementing", "timestamp")},
	{Name: "incrementing.column.name", Type: connect.TypeString, Default: "id", Importance: connect.Medium,
		Doc: "A strictly increasing integer column."},
	{Name: "timestamp.column.name", Type: connect.TypeString, Default: "", Importance: connect.Medium,
		Doc: "A timestamp column that grows on insert and update."},
	{Name: "topic.prefix", Type: connect.TypeString, Default: "", Importance: connect.High,
		Doc: "Records of table T go to topic.prefix + T."},
	{Name: "poll.interval.ms", Type: connect.TypeInt, Default: "5000", Importance: connect.Medium,
		Doc: "How long to wait after a poll that found nothing new."},
	{Name: "batch.max.rows", Type: connect.TypeInt, Default: "1000", Importance: connect.Low,
		Doc: "Rows per query.", Valid: connect.AtLeast(1)},
}

// Config implements connect.Connector.
func (*Source) Config() connect.ConfigDef { return sourceDef }

// Start implements connect.Connector.
func (s *Source) Start(_ context.Context, cfg map[string]string) error {
	if cfg["mode"] == "timestamp" && cfg["timestamp.column.name"] == "" {
		return fmt.Errorf("mode=timestamp needs timestamp.column.name")
	}
	s.cfg = cfg
	return nil
}

// TaskConfigs implements connect.Connector: tables are dealt round robin.
func (s *Source) TaskConfigs(max int) ([]map[string]string, error) {
	tables := connect.SplitList(s.cfg["table.whitelist"])
	if max > len(tables) {
		max = len(tables)
	}
	out := make([]map[string]string, max)
	for i, t := range tables {
		if out[i%max] == nil {
			out[i%max] = map[string]string{"tables": t}
		} else {
			out[i%max]["tables"] += "," + t
		}
	}
	return out, nil
}

// Stop implements connect.Connector.
func (*Source) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*Source) Version() string { return version }

// NewTask implements connect.SourceConnector.
func (*Source) NewTask() connect.SourceTask { return &SourceTask{} }

// SourceTask polls its tables. The source partition is {"table": T}; the
// offset {"incrementing": id} or {"timestamp": unix ms, "incrementing": id}.
type SourceTask struct {
	c        *connect.Config
	conn     *pgx.Conn
	tables   []string
	state    map[string]*tableState
	interval time.Duration
	next     int
}

type tableState struct {
	inc int64
	ts  time.Time
}

// Start implements connect.SourceTask.
func (t *SourceTask) Start(ctx context.Context, cfg map[string]string, tc connect.SourceTaskContext) error {
	c, err := connect.NewConfig(sourceDef, cfg)
	if err != nil {
		return err
	}
	t.c = c
	t.tables = connect.SplitList(cfg["tables"])
	t.interval = c.Millis("poll.interval.ms")
	t.state = map[string]*tableState{}
	for _, tb := range t.tables {
		st := &tableState{inc: -1 << 63}
		off, err := tc.Offset(map[string]any{"table": tb})
		if err != nil {
			return err
		}
		if v, ok := off["incrementing"].(float64); ok {
			st.inc = int64(v)
		}
		if v, ok := off["timestamp"].(float64); ok {
			st.ts = time.UnixMicro(int64(v))
		}
		t.state[tb] = st
	}
	t.conn, err = connect_(ctx, c.String("connection.url"))
	return err
}

// Poll implements connect.SourceTask: it queries the tables in turn and
// returns the first non-empty batch, or sleeps poll.interval.ms.
func (t *SourceTask) Poll(ctx context.Context) ([]connect.Record, error) {
	if t.conn == nil || t.conn.IsClosed() {
		var err error
		if t.conn, err = connect_(ctx, t.c.String("connection.url")); err != nil {
			return nil, err
		}
	}
	for range t.tables {
		tb := t.tables[t.next%len(t.tables)]
		t.next++
		recs, err := t.query(ctx, tb)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	timer := time.NewTimer(t.interval)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
	return nil, nil
}

func (t *SourceTask) query(ctx context.Context, table string) ([]connect.Record, error) {
	st := t.state[table]
	inc := t.c.String("incrementing.column.name")
	limit := t.c.Int("batch.max.rows")
	var q string
	var args []any
	if t.c.String("mode") == "timestamp" {
		ts := ident(t.c.String("timestamp.column.name"))
		q = fmt.Sprintf("SELECT * FROM %s WHERE (%s, %s) > ($1, $2) ORDER BY %s, %s LIMIT %d",
			tableIdent(table), ts, ident(inc), ts, ident(inc), limit)
		args = []any{st.ts, st.inc}
	} else {
		q = fmt.Sprintf("SELECT * FROM %s WHERE %s > $1 ORDER BY %s LIMIT %d", tableIdent(table), ident(inc), ident(inc), limit)
		args = []any{st.inc}
	}
	rows, err := t.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, connect.Retriable(fmt.Errorf("query %s: %w", table, err))
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	b := connect.NewStruct(table)
	for _, fd := range fds {
		b.Field(fd.Name, schemaFor(fd.DataTypeOID))
	}
	schema := b.Build()
	topic := t.c.String("topic.prefix") + table
	var out []connect.Record
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		m := make(map[string]any, len(vals))
		for i, fd := range fds {
			m[fd.Name] = toConnect(vals[i], schema.Fields[i].Schema)
			if fd.Name == inc {
				if n, ok := m[fd.Name].(int64); ok {
					st.inc = n
				} else if n, ok := m[fd.Name].(int32); ok {
					st.inc = int64(n)
				}
			}
			if t.c.String("mode") == "timestamp" && fd.Name == t.c.String("timestamp.column.name") {
				if tv, ok := vals[i].(time.Time); ok {
					st.ts = tv
				}
			}
		}
		off := map[string]any{"incrementing": st.inc}
		if t.c.String("mode") == "timestamp" {
			off["timestamp"] = st.ts.UnixMicro()
		}
		out = append(out, connect.Record{Topic: topic, Partition: -1, ValueSchema: schema, Value: m,
			SourcePartition: map[string]any{"table": table}, SourceOffset: off})
	}
	if err := rows.Err(); err != nil {
		return nil, connect.Retriable(fmt.Errorf("read %s: %w", table, err))
	}
	return out, nil
}

func schemaFor(oid uint32) *connect.Schema {
	switch oid {
	case pgtype.Int2OID:
		return &connect.Schema{Type: connect.Int16, Optional: true}
	case pgtype.Int4OID:
		return &connect.Schema{Type: connect.Int32, Optional: true}
	case pgtype.Int8OID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return &connect.Schema{Type: connect.Int64, Optional: true}
	case pgtype.Float4OID:
		return &connect.Schema{Type: connect.Float32, Optional: true}
	case pgtype.Float8OID:
		return &connect.Schema{Type: connect.Float64, Optional: true}
	case pgtype.BoolOID:
		return &connect.Schema{Type: connect.Boolean, Optional: true}
	case pgtype.ByteaOID:
		return &connect.Schema{Type: connect.Bytes, Optional: true}
	}
	return &connect.Schema{Type: connect.String, Optional: true}
}

// toConnect converts a pgx value to the Go type of its schema; timestamps
// become Unix milliseconds, everything unknown its text form.
func toConnect(v any, s *connect.Schema) any {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli()
	case int16, int32, int64, float32, float64, bool, []byte, string:
		return x
	}
	if s.Type == connect.String {
		return fmt.Sprint(v)
	}
	return strconv.Quote(fmt.Sprint(v))
}

// Stop implements connect.SourceTask.
func (t *SourceTask) Stop(ctx context.Context) error {
	if t.conn != nil {
		return t.conn.Close(ctx)
	}
	return nil
}
