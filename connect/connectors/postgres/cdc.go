package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kavka-io/kavka/connect"
)

// CDCClass is the change-data-capture source's class name.
const CDCClass = "io.kavka.connect.postgres.PostgresCdcSourceConnector"

// CDCSource streams row changes through logical replication (the pgoutput
// plugin, protocol 1): a publication selects the tables, a replication slot
// keeps the server's WAL until it is acknowledged. Every insert, update and
// delete becomes one record on topic.prefix.<schema>.<table> whose key is
// the row's replica identity (primary key) columns and whose value is a
// Debezium-style envelope:
//
//	{"op": "c"|"u"|"d", "before": {…}|null, "after": {…}|null,
//	 "source": {"lsn": "0/16B3748", "txId": 734, "schema": "public", "table": "t"},
//	 "ts_ms": commit time}
//
// "before" carries the old row only where PostgreSQL sends it: all columns
// with REPLICA IDENTITY FULL, the key columns of deletes otherwise.
//
// Offsets (at least once): the source partition is {"slot": name} and the
// offset {"lsn": L}, where L is the end of the last transaction all of
// whose changes are at or before the record. A transaction's records are
// released when its commit arrives (or in chunks of max.batch.size for a
// big one, carrying the previous transaction's L). The slot is acknowledged
// (standby status update) only from Commit, that is after the worker wrote
// the records to Kafka and stored their offsets; a restarted task asks for
// the stream from its stored L, so a transaction cut by a crash is sent
// again in full.
//
// Not built: an initial snapshot of existing rows (only changes after the
// slot is created are streamed), TRUNCATE events, protocol 2 streaming of
// in-progress transactions.
type CDCSource struct{ cfg map[string]string }

var cdcDef = connect.ConfigDef{
	{Name: "connection.url", Type: connect.TypeString, Required: true, Importance: connect.High,
		Doc: "PostgreSQL connection string (the server needs wal_level=logical)."},
	{Name: "slot.name", Type: connect.TypeString, Default: "kavka", Importance: connect.High,
		Doc: "Logical replication slot; created with the pgoutput plugin if missing."},
	{Name: "publication.name", Type: connect.TypeString, Default: "kavka_publication", Importance: connect.High,
		Doc: "Publication to stream; created if missing (see publication.autocreate)."},
	{Name: "publication.autocreate", Type: connect.TypeBoolean, Default: "true", Importance: connect.Medium,
		Doc: "Create the publication if it does not exist: FOR TABLE table.include.list, or FOR ALL TABLES if that is empty."},
	{Name: "table.include.list", Type: connect.TypeList, Default: "", Importance: connect.High,
		Doc: "Tables (schema.table or table) of the created publication."},
	{Name: "topic.prefix", Type: connect.TypeString, Default: "pg", Importance: connect.High,
		Doc: "Changes of schema.table go to topic.prefix.schema.table."},
	{Name: "max.batch.size", Type: connect.TypeInt, Default: "2048", Importance: connect.Low,
		Doc: "Most records one Poll returns.", Valid: connect.AtLeast(1)},
	{Name: "poll.interval.ms", Type: connect.TypeInt, Default: "500", Importance: connect.Low,
		Doc: "How long Poll waits for changes before returning none.", Valid: connect.AtLeast(1)},
	{Name: "status.update.interval.ms", Type: connect.TypeInt, Default: "10000", Importance: connect.Low,
		Doc: "Keepalive interval of standby status updates (below the server's wal_sender_timeout).", Valid: connect.AtLeast(100)},
}

// Config implements connect.Connector.
func (*CDCSource) Config() connect.ConfigDef { return cdcDef }

// Start implements connect.Connector.
func (s *CDCSource) Start(_ context.Context, cfg map[string]string) error { s.cfg = cfg; return nil }

// TaskConfigs implements connect.Connector: one slot, one task.
func (s *CDCSource) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}

// Stop implements connect.Connector.
func (*CDCSource) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*CDCSource) Version() string { return version }

// NewTask implements connect.SourceConnector.
func (*CDCSource) NewTask() connect.SourceTask { return &CDCTask{} }

// CDCTask reads the replication stream. Poll and Commit run on the worker's
// task goroutine, so the replication connection is never shared.
type CDCTask struct {
	c         *connect.Config
	slot      string
	prefix    string
	batch     int
	wait      time.Duration
	statusInt time.Duration
	repl      *pgconn.PgConn
	relations map[uint32]*pglogrepl.RelationMessage

	txn        []connect.Record // changes of the open transaction
	ready      []connect.Record // released, not yet returned by Poll
	xid        uint32
	commitTime time.Time
	resume     pglogrepl.LSN // end of the last transaction released in full
	returned   pglogrepl.LSN // resume as of the last record Poll returned
	acked      pglogrepl.LSN // last LSN acknowledged to the server
	nextStatus time.Time
}

// lsnOffset parses {"lsn": "X/Y"}.
func lsnOffset(off map[string]any) (pglogrepl.LSN, error) {
	s, _ := off["lsn"].(string)
	if s == "" {
		return 0, nil
	}
	return pglogrepl.ParseLSN(s)
}

// replicationURL adds replication=database to a URL or keyword/value DSN.
func replicationURL(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			q := u.Query()
			q.Set("replication", "database")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return s + " replication=database"
}

// Start implements connect.SourceTask: it creates the publication and the
// slot if needed and starts streaming from the stored offset.
func (t *CDCTask) Start(ctx context.Context, cfg map[string]string, tc connect.SourceTaskContext) error {
	c, err := connect.NewConfig(cdcDef, cfg)
	if err != nil {
		return err
	}
	t.c = c
	t.slot, t.prefix = c.String("slot.name"), c.String("topic.prefix")
	t.batch = int(c.Int("max.batch.size"))
	t.wait = c.Millis("poll.interval.ms")
	t.statusInt = c.Millis("status.update.interval.ms")
	t.relations = map[uint32]*pglogrepl.RelationMessage{}
	off, err := tc.Offset(map[string]any{"slot": t.slot})
	if err != nil {
		return err
	}
	if t.resume, err = lsnOffset(off); err != nil {
		return fmt.Errorf("stored offset: %w", err)
	}
	t.returned, t.acked = t.resume, t.resume
	if err := t.setup(ctx); err != nil {
		return err
	}
	return t.startStreaming(ctx)
}

// setup creates the publication and the slot (idempotent).
func (t *CDCTask) setup(ctx context.Context) error {
	conn, err := connect_(ctx, t.c.String("connection.url"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	pub := t.c.String("publication.name")
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, pub).Scan(&exists); err != nil {
		return connect.Retriable(fmt.Errorf("look up publication: %w", err))
	}
	if !exists {
		if !t.c.Bool("publication.autocreate") {
			return fmt.Errorf("publication %s does not exist (publication.autocreate=false)", pub)
		}
		what := "ALL TABLES"
		if tables := t.c.List("table.include.list"); len(tables) > 0 {
			q := make([]string, len(tables))
			for i, tb := range tables {
				q[i] = tableIdent(tb)
			}
			what = "TABLE " + strings.Join(q, ", ")
		}
		if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+ident(pub)+" FOR "+what); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42710" { // duplicate_object: another task won the race
				return fmt.Errorf("create publication: %w", err)
			}
		}
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, t.slot).Scan(&exists); err != nil {
		return connect.Retriable(fmt.Errorf("look up slot: %w", err))
	}
	if exists {
		return nil
	}
	repl, err := pgconn.Connect(ctx, replicationURL(t.c.String("connection.url")))
	if err != nil {
		return connect.Retriable(fmt.Errorf("replication connection: %w", err))
	}
	defer repl.Close(context.Background())
	if _, err := pglogrepl.CreateReplicationSlot(ctx, repl, t.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication}); err != nil {
		return fmt.Errorf("create replication slot %s: %w", t.slot, err)
	}
	return nil
}

func (t *CDCTask) startStreaming(ctx context.Context) error {
	repl, err := pgconn.Connect(ctx, replicationURL(t.c.String("connection.url")))
	if err != nil {
		return connect.Retriable(fmt.Errorf("replication connection: %w", err))
	}
	pub := t.c.String("publication.name")
	err = pglogrepl.StartReplication(ctx, repl, t.slot, t.resume, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(pub, "'", "''") + "'"},
	})
	if err != nil {
		repl.Close(context.Background())
		return fmt.Errorf("start replication from %s: %w", t.resume, err)
	}
	t.repl = repl
	t.txn, t.ready = nil, nil
	t.relations = map[uint32]*pglogrepl.RelationMessage{}
	t.nextStatus = time.Now()
	return nil
}

// Poll implements connect.SourceTask.
func (t *CDCTask) Poll(ctx context.Context) ([]connect.Record, error) {
	if t.repl == nil || t.repl.IsClosed() {
		// Reconnect from the last returned position: everything after it
		// is streamed again.
		t.resume = t.returned
		if err := t.startStreaming(ctx); err != nil {
			return nil, connect.Retriable(err)
		}
	}
	deadline := time.Now().Add(t.wait)
	lingering := false
	for len(t.ready) < t.batch {
		if time.Now().After(t.nextStatus) {
			if err := t.sendStatus(ctx); err != nil {
				return t.take(), err
			}
		}
		if len(t.ready) > 0 && !lingering {
			// Something to return: gather what follows for a few ms more.
			lingering = true
			deadline = minTime(deadline, time.Now().Add(5*time.Millisecond))
		}
		if time.Now().After(deadline) {
			break
		}
		rctx, cancel := context.WithDeadline(ctx, minTime(deadline, t.nextStatus))
		msg, err := t.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return t.take(), nil
			}
			if pgconn.Timeout(err) {
				continue
			}
			t.repl.Close(context.Background())
			return t.take(), connect.Retriable(fmt.Errorf("replication stream: %w", err))
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return t.take(), fmt.Errorf("replication stream: %s: %s", m.Code, m.Message)
		case *pgproto3.CopyData:
			if err := t.handle(m.Data); err != nil {
				return t.take(), err
			}
		}
	}
	return t.take(), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// take returns the released records and remembers their resume point.
func (t *CDCTask) take() []connect.Record {
	out := t.ready
	t.ready = nil
	if len(out) > 0 {
		if l, err := lsnOffset(out[len(out)-1].SourceOffset); err == nil {
			t.returned = l
		}
	}
	return out
}

func (t *CDCTask) handle(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
		if pkm.ReplyRequested {
			t.nextStatus = time.Time{}
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("xlog data: %w", err)
		}
		msg, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("pgoutput message: %w", err)
		}
		return t.apply(msg)
	}
	return nil
}

func (t *CDCTask) apply(msg pglogrepl.Message) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		t.relations[m.RelationID] = m
	case *pglogrepl.BeginMessage:
		t.txn, t.xid, t.commitTime = t.txn[:0], m.Xid, m.CommitTime
	case *pglogrepl.CommitMessage:
		// Release the transaction; its last record carries its end.
		if n := len(t.txn); n > 0 {
			t.txn[n-1].SourceOffset = map[string]any{"lsn": m.TransactionEndLSN.String()}
		}
		t.ready = append(t.ready, t.txn...)
		t.txn = nil
		t.resume = m.TransactionEndLSN
	case *pglogrepl.InsertMessage:
		return t.change(m.RelationID, "c", nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return t.change(m.RelationID, "u", m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return t.change(m.RelationID, "d", m.OldTuple, nil)
	}
	return nil
}

func (t *CDCTask) change(rel uint32, op string, before, after *pglogrepl.TupleData) error {
	r, ok := t.relations[rel]
	if !ok {
		return fmt.Errorf("change for unknown relation %d", rel)
	}
	b, a := rowMap(r, before), rowMap(r, after)
	keySrc := a
	if keySrc == nil {
		keySrc = b
	}
	var key map[string]any
	for _, col := range r.Columns {
		if col.Flags&1 != 0 {
			if v, ok := keySrc[col.Name]; ok {
				if key == nil {
					key = map[string]any{}
				}
				key[col.Name] = v
			}
		}
	}
	val := map[string]any{"op": op, "before": nilIfEmpty(b), "after": nilIfEmpty(a),
		"source": map[string]any{"lsn": t.resume.String(), "txId": int64(t.xid), "schema": r.Namespace, "table": r.RelationName},
		"ts_ms":  t.commitTime.UnixMilli()}
	rec := connect.Record{Topic: t.prefix + "." + r.Namespace + "." + r.RelationName, Partition: -1,
		Value: val, Timestamp: t.commitTime,
		SourcePartition: map[string]any{"slot": t.slot},
		SourceOffset:    map[string]any{"lsn": t.resume.String()}}
	if key != nil {
		rec.Key = key
	}
	t.txn = append(t.txn, rec)
	if len(t.txn) >= t.batch {
		// A big transaction: release what we have; it resumes before it.
		t.ready = append(t.ready, t.txn...)
		t.txn = nil
	}
	return nil
}

func nilIfEmpty(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// rowMap decodes a tuple (text format) with the relation's column types:
// integers → int64, floats → float64, booleans → bool, NULL → nil, the
// rest as their text (numeric, dates, json…). Unchanged TOAST values are
// left out.
func rowMap(r *pglogrepl.RelationMessage, tup *pglogrepl.TupleData) map[string]any {
	if tup == nil {
		return nil
	}
	m := make(map[string]any, len(tup.Columns))
	for i, col := range tup.Columns {
		if i >= len(r.Columns) {
			break
		}
		name := r.Columns[i].Name
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			m[name] = nil
		case pglogrepl.TupleDataTypeToast:
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			m[name] = textValue(r.Columns[i].DataType, string(col.Data))
		}
	}
	return m
}

// PostgreSQL type OIDs (pg_type.dat).
const (
	oidBool   = 16
	oidInt8   = 20
	oidInt2   = 21
	oidInt4   = 23
	oidOID    = 26
	oidFloat4 = 700
	oidFloat8 = 701
)

func textValue(oid uint32, s string) any {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case oidFloat4, oidFloat8:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case oidBool:
		return s == "t"
	}
	return s
}

func (t *CDCTask) sendStatus(ctx context.Context) error {
	t.nextStatus = time.Now().Add(t.statusInt)
	if t.repl == nil {
		return nil
	}
	if err := pglogrepl.SendStandbyStatusUpdate(ctx, t.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: t.acked}); err != nil {
		t.repl.Close(context.Background())
		return connect.Retriable(fmt.Errorf("standby status update: %w", err))
	}
	return nil
}

// Commit implements connect.SourceCommitter: everything Poll returned is in
// Kafka and its offsets are stored, so the slot may drop the WAL before
// the last returned resume point.
func (t *CDCTask) Commit(ctx context.Context) error {
	if t.returned <= t.acked {
		return nil
	}
	t.acked = t.returned
	return t.sendStatus(ctx)
}

// Stop implements connect.SourceTask.
func (t *CDCTask) Stop(ctx context.Context) error {
	if t.repl == nil {
		return nil
	}
	if t.acked > 0 && !t.repl.IsClosed() {
		_ = t.sendStatus(ctx) // best effort: the stored offset is what counts
	}
	return t.repl.Close(ctx)
}
