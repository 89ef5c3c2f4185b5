// Package postgres provides a PostgreSQL sink (insert or upsert by key,
// table auto-creation, batched writes) and a PostgreSQL source that reads a
// table incrementally by a strictly increasing id column or a timestamp
// column, in the spirit of Confluent's JDBC connectors and with their
// configuration names where they exist. It uses jackc/pgx.
package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kavka-io/kavka/connect"
)

// Class names.
const (
	SinkClass   = "io.kavka.connect.postgres.PostgresSinkConnector"
	SourceClass = "io.kavka.connect.postgres.PostgresSourceConnector"
	version     = "1.0.0"
)

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// tableIdent quotes a possibly schema-qualified table name.
func tableIdent(s string) string { return pgx.Identifier(strings.Split(s, ".")).Sanitize() }

func pgType(s *connect.Schema) string {
	switch s.Type {
	case connect.Int8, connect.Int16:
		return "SMALLINT"
	case connect.Int32:
		return "INTEGER"
	case connect.Int64:
		return "BIGINT"
	case connect.Float32:
		return "REAL"
	case connect.Float64:
		return "DOUBLE PRECISION"
	case connect.Boolean:
		return "BOOLEAN"
	case connect.Bytes:
		return "BYTEA"
	case connect.String:
		return "TEXT"
	}
	return "JSONB"
}

func goPGType(v any) string {
	switch v.(type) {
	case int8, int16:
		return "SMALLINT"
	case int32:
		return "INTEGER"
	case int64, int:
		return "BIGINT"
	case float32, float64:
		return "DOUBLE PRECISION"
	case bool:
		return "BOOLEAN"
	case []byte:
		return "BYTEA"
	case string:
		return "TEXT"
	}
	return "JSONB"
}

func connect_(ctx context.Context, url string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, connect.Retriable(fmt.Errorf("connect to postgres: %w", err))
	}
	return conn, nil
}
