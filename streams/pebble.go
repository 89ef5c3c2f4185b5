package streams

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleStore is a persistent store in its own pebble database, one per
// store per task (<state.dir>/<application.id>/<task>/<store>). Writes skip
// the pebble WAL: the changelog topic is the store's durability, and a
// store is rebuilt from it after a crash (see DESIGN.md).
type pebbleStore struct {
	db *pebble.DB
}

func openPebble(dir string) (*pebbleStore, error) {
	db, err := pebble.Open(dir, &pebble.Options{DisableWAL: true, Logger: pebbleLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	return &pebbleStore{db: db}, nil
}

func (s *pebbleStore) Get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

func (s *pebbleStore) Put(k, v []byte) error {
	if v == nil {
		return s.db.Delete(k, pebble.NoSync)
	}
	return s.db.Set(k, v, pebble.NoSync)
}

func (s *pebbleStore) Range(from, to []byte, fn func(k, v []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: to})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}

func (s *pebbleStore) Flush() error { return s.db.Flush() }
func (s *pebbleStore) Close() error { return s.db.Close() }

// pebbleLogger drops pebble's informational messages and reports its
// background errors through slog (they have no caller to return to).
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any) {}
func (pebbleLogger) Errorf(format string, args ...any) {
	slog.Warn("streams: pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called by pebble on unrecoverable corruption and must not
// return (pebble's contract).
func (pebbleLogger) Fatalf(format string, args ...any) {
	panic("streams: pebble: " + fmt.Sprintf(format, args...))
}
