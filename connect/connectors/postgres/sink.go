package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kavka-io/kavka/connect"
)

// Sink writes records as rows.
type Sink struct{ cfg map[string]string }

var sinkDef = connect.ConfigDef{
	{Name: "connection.url", Type: connect.TypeString, Required: true, Importance: connect.High,
		Doc: "PostgreSQL connection string, e.g. postgres://user:pass@host:5432/db"},
	{Name: "table.name.format", Type: connect.TypeString, Default: "${topic}", Importance: connect.Medium,
		Doc: "Destination table; ${topic} is replaced by the record's topic."},
	{Name: "insert.mode", Type: connect.TypeString, Default: "insert", Importance: connect.High,
		Doc: "insert: plain INSERT; upsert: INSERT … ON CONFLICT (pk) DO UPDATE.", Valid: connect.OneOf("insert", "upsert")},
	{Name: "pk.mode", Type: connect.TypeString, Default: "none", Importance: connect.High,
		Doc:   "none, record_key (key fields, or the whole key as pk.fields[0]) or record_value (fields of the value).",
		Valid: connect.OneOf("none", "record_key", "record_value")},
	{Name: "pk.fields", Type: connect.TypeList, Default: "", Importance: connect.Medium,
		Doc: "Primary key columns."},
	{Name: "auto.create", Type: connect.TypeBoolean, Default: "false", Importance: connect.Medium,
		Doc: "Create the table from the record schema (or the schemaless value's Go types) if it is missing."},
	{Name: "batch.size", Type: connect.TypeInt, Default: "3000", Importance: connect.Medium,
		Doc: "Rows per batch sent to PostgreSQL.", Valid: connect.AtLeast(1)},
}

// Config implements connect.Connector.
func (*Sink) Config() connect.ConfigDef { return sinkDef }

// Start implements connect.Connector.
func (s *Sink) Start(_ context.Context, cfg map[string]string) error {
	if cfg["insert.mode"] == "upsert" && (cfg["pk.mode"] == "" || cfg["pk.mode"] == "none") {
		return fmt.Errorf("insert.mode=upsert needs pk.mode record_key or record_value")
	}
	s.cfg = cfg
	return nil
}

// TaskConfigs implements connect.Connector: every task gets the same
// configuration; Kafka's group assignment splits the partitions.
func (s *Sink) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out, nil
}

// Stop implements connect.Connector.
func (*Sink) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*Sink) Version() string { return version }

// NewTask implements connect.SinkConnector.
func (*Sink) NewTask() connect.SinkTask { return &SinkTask{} }

// SinkTask writes each Put as one transaction of batched statements.
type SinkTask struct {
	url, format, mode, pkMode string
	pkFields                  []string
	autoCreate                bool
	batchSize                 int
	conn                      *pgx.Conn
	created                   map[string]bool
}

// Start implements connect.SinkTask.
func (t *SinkTask) Start(ctx context.Context, cfg map[string]string, _ connect.SinkTaskContext) error {
	c, err := connect.NewConfig(sinkDef, cfg)
	if err != nil {
		return err
	}
	t.url, t.format, t.mode, t.pkMode = c.String("connection.url"), c.String("table.name.format"), c.String("insert.mode"), c.String("pk.mode")
	t.pkFields, t.autoCreate, t.batchSize = c.List("pk.fields"), c.Bool("auto.create"), int(c.Int("batch.size"))
	t.created = map[string]bool{}
	if err := c.Err(); err != nil {
		return err
	}
	t.conn, err = connect_(ctx, t.url)
	return err
}

type row struct {
	cols []string
	vals []any
	def  []string // column types for auto-create
	pk   []string
}

func (t *SinkTask) toRow(r connect.Record) (row, error) {
	var out row
	add := func(col string, s *connect.Schema, v any) {
		out.cols = append(out.cols, col)
		switch x := v.(type) {
		case map[string]any, []any:
			b, _ := json.Marshal(x) // values from converters always encode
			v = string(b)
		}
		out.vals = append(out.vals, v)
		if s != nil {
			out.def = append(out.def, pgType(s))
		} else {
			out.def = append(out.def, goPGType(v))
		}
	}
	if t.pkMode == "record_key" {
		switch k := r.Key.(type) {
		case map[string]any:
			fields := t.pkFields
			if len(fields) == 0 {
				if r.KeySchema != nil {
					for _, f := range r.KeySchema.Fields {
						fields = append(fields, f.Name)
					}
				} else {
					for f := range k {
						fields = append(fields, f)
					}
					slices.Sort(fields)
				}
			}
			for _, f := range fields {
				var fs *connect.Schema
				if fd := r.KeySchema.Field(f); fd != nil {
					fs = fd.Schema
				}
				add(f, fs, k[f])
			}
			out.pk = fields
		case nil:
			return out, fmt.Errorf("pk.mode=record_key but the record (%s-%d@%d) has no key", r.Topic, r.Partition, r.Offset)
		default:
			name := "id"
			if len(t.pkFields) > 0 {
				name = t.pkFields[0]
			}
			add(name, r.KeySchema, k)
			out.pk = []string{name}
		}
	}
	m, ok := r.Value.(map[string]any)
	if !ok {
		return out, fmt.Errorf("postgres sink needs a struct or map value, got %T (topic %s offset %d)", r.Value, r.Topic, r.Offset)
	}
	var fields []string
	if r.ValueSchema != nil {
		for _, f := range r.ValueSchema.Fields {
			fields = append(fields, f.Name)
		}
	} else {
		for f := range m {
			fields = append(fields, f)
		}
		slices.Sort(fields)
	}
	for _, f := range fields {
		if slices.Contains(out.cols, f) {
			continue
		}
		var fs *connect.Schema
		if fd := r.ValueSchema.Field(f); fd != nil {
			fs = fd.Schema
		}
		add(f, fs, m[f])
	}
	if t.pkMode == "record_value" {
		out.pk = t.pkFields
	}
	return out, nil
}

func (t *SinkTask) ensureTable(ctx context.Context, table string, r row) error {
	if !t.autoCreate || t.created[table] {
		return nil
	}
	var cols []string
	for i, c := range r.cols {
		def := ident(c) + " " + r.def[i]
		if slices.Contains(r.pk, c) {
			def += " NOT NULL"
		}
		cols = append(cols, def)
	}
	if len(r.pk) > 0 {
		var pk []string
		for _, c := range r.pk {
			pk = append(pk, ident(c))
		}
		cols = append(cols, "PRIMARY KEY ("+strings.Join(pk, ", ")+")")
	}
	if _, err := t.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+tableIdent(table)+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return fmt.Errorf("auto-create table %s: %w", table, err)
	}
	t.created[table] = true
	return nil
}

func (t *SinkTask) statement(table string, r row) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(tableIdent(table))
	b.WriteString(" (")
	for i, c := range r.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(c))
	}
	b.WriteString(") VALUES (")
	for i := range r.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(")")
	if t.mode == "upsert" && len(r.pk) > 0 {
		var pk, set []string
		for _, c := range r.pk {
			pk = append(pk, ident(c))
		}
		for _, c := range r.cols {
			if !slices.Contains(r.pk, c) {
				set = append(set, ident(c)+" = EXCLUDED."+ident(c))
			}
		}
		b.WriteString(" ON CONFLICT (" + strings.Join(pk, ", ") + ")")
		if len(set) == 0 {
			b.WriteString(" DO NOTHING")
		} else {
			b.WriteString(" DO UPDATE SET " + strings.Join(set, ", "))
		}
	}
	return b.String()
}

// Put implements connect.SinkTask: all records of one Put are written in
// one transaction, batch.size statements per round trip. Connection
// errors are retriable.
func (t *SinkTask) Put(ctx context.Context, records []connect.Record) error {
	if len(records) == 0 {
		return nil
	}
	if t.conn == nil || t.conn.IsClosed() {
		var err error
		if t.conn, err = connect_(ctx, t.url); err != nil {
			return err
		}
	}
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		t.conn.Close(ctx)
		return connect.Retriable(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	batch := &pgx.Batch{}
	send := func() error {
		if batch.Len() == 0 {
			return nil
		}
		err := tx.SendBatch(ctx, batch).Close()
		batch = &pgx.Batch{}
		return err
	}
	for _, r := range records {
		table := strings.ReplaceAll(t.format, "${topic}", r.Topic)
		rw, err := t.toRow(r)
		if err != nil {
			return err
		}
		if err := t.ensureTable(ctx, table, rw); err != nil {
			return err
		}
		batch.Queue(t.statement(table, rw), rw.vals...)
		if batch.Len() >= t.batchSize {
			if err := send(); err != nil {
				return fmt.Errorf("write batch: %w", err)
			}
		}
	}
	if err := send(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return connect.Retriable(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Flush implements connect.SinkTask: Put commits, so there is nothing left.
func (t *SinkTask) Flush(context.Context, map[connect.TopicPartition]int64) error { return nil }

// Stop implements connect.SinkTask.
func (t *SinkTask) Stop(ctx context.Context) error {
	if t.conn != nil {
		return t.conn.Close(ctx)
	}
	return nil
}
