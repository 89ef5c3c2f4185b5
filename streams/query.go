package streams

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrNotRunning is returned by interactive queries before the App has
// started any task holding the store.
var ErrNotRunning = errors.New("streams: store not available on this instance (yet)")

// QueryKeyValueStore returns a read-only view of a key-value store over
// all tasks (partitions) this instance currently runs. Each call reads the
// live stores: a key whose task runs on another instance is not found
// (route such queries with your own metadata; see the HTTP example).
func QueryKeyValueStore[K, V any](a *App, name string) (ReadOnlyKeyValueStore[K, V], error) {
	def, ok := a.topo.stores[name]
	if !ok || def.kind != kvStore {
		return nil, fmt.Errorf("streams: no key-value store %q", name)
	}
	ks, ok1 := def.keySerde.(Serde[K])
	vs, ok2 := def.valSerde.(Serde[V])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("streams: store %q has serdes %T, %T", name, def.keySerde, def.valSerde)
	}
	return &appKV[K, V]{a: a, name: name, ks: ks, vs: vs}, nil
}

type appKV[K, V any] struct {
	a    *App
	name string
	ks   Serde[K]
	vs   Serde[V]
}

// each calls fn with each local store named q.name, holding the read lock
// so tasks cannot close their stores meanwhile.
func (q *appKV[K, V]) each(fn func(typedKV[K, V]) (bool, error)) error {
	q.a.mu.RLock()
	defer q.a.mu.RUnlock()
	if s, ok := q.a.gstores[q.name]; ok {
		_, err := fn(typedKV[K, V]{s: s, ks: q.ks, vs: q.vs})
		return err
	}
	ids := make([]TaskID, 0, len(q.a.tasks))
	for id, t := range q.a.tasks {
		if _, ok := t.raw[q.name]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ErrNotRunning
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Partition < ids[j].Partition })
	for _, id := range ids {
		more, err := fn(typedKV[K, V]{s: q.a.tasks[id].raw[q.name], ks: q.ks, vs: q.vs})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (q *appKV[K, V]) Get(k K) (V, bool, error) {
	var out V
	var found bool
	err := q.each(func(s typedKV[K, V]) (bool, error) {
		v, ok, err := s.Get(k)
		if ok {
			out, found = v, true
		}
		return !ok, err
	})
	return out, found, err
}

func (q *appKV[K, V]) Range(from, to K, fn func(K, V) bool) error {
	stop := false
	return q.each(func(s typedKV[K, V]) (bool, error) {
		err := s.Range(from, to, func(k K, v V) bool { stop = !fn(k, v); return !stop })
		return !stop, err
	})
}

func (q *appKV[K, V]) All(fn func(K, V) bool) error {
	stop := false
	return q.each(func(s typedKV[K, V]) (bool, error) {
		err := s.All(func(k K, v V) bool { stop = !fn(k, v); return !stop })
		return !stop, err
	})
}

// WindowValue is one window's value from a window or session store.
type WindowValue[V any] struct {
	Window Window
	Value  V
}

// ReadOnlyWindowStore reads a windowed aggregation's store.
type ReadOnlyWindowStore[K, V any] interface {
	// Fetch returns the windows of k starting in [from, to], oldest first.
	// For session stores, sessions ending in [from, to].
	Fetch(k K, from, to time.Time) ([]WindowValue[V], error)
}

// QueryWindowStore returns a read-only view of a window or session store
// over the tasks this instance runs.
func QueryWindowStore[K, V any](a *App, name string) (ReadOnlyWindowStore[K, V], error) {
	def, ok := a.topo.stores[name]
	if !ok || def.kind == kvStore {
		return nil, fmt.Errorf("streams: no window store %q", name)
	}
	return windowQuery[K, V](def, func(fn func(bytesStore) bool) error {
		a.mu.RLock()
		defer a.mu.RUnlock()
		any := false
		for _, t := range a.tasks {
			if s, ok := t.raw[name]; ok {
				any = true
				if !fn(s) {
					break
				}
			}
		}
		if !any {
			return ErrNotRunning
		}
		return nil
	})
}

// DriverWindowStore returns a window or session store of a TestDriver.
func DriverWindowStore[K, V any](d *TestDriver, name string) (ReadOnlyWindowStore[K, V], error) {
	def, ok := d.topo.stores[name]
	if !ok || def.kind == kvStore {
		return nil, fmt.Errorf("streams: no window store %q", name)
	}
	return windowQuery[K, V](def, func(fn func(bytesStore) bool) error {
		fn(d.findStore(name))
		return nil
	})
}

type windowStoreView[K, V any] struct {
	def    *storeDef
	ks     Serde[K]
	vs     Serde[V]
	stores func(func(bytesStore) bool) error
}

func windowQuery[K, V any](def *storeDef, stores func(func(bytesStore) bool) error) (ReadOnlyWindowStore[K, V], error) {
	ks, ok1 := def.keySerde.(Serde[K])
	vs, ok2 := def.valSerde.(Serde[V])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("streams: store %q has serdes %T, %T", def.name, def.keySerde, def.valSerde)
	}
	return &windowStoreView[K, V]{def: def, ks: ks, vs: vs, stores: stores}, nil
}

func (w *windowStoreView[K, V]) Fetch(k K, from, to time.Time) ([]WindowValue[V], error) {
	kb, err := w.ks.Serialize(k)
	if err != nil {
		return nil, err
	}
	nts := 1
	if w.def.kind == sessionStoreKind {
		nts = 2
	}
	var out []WindowValue[V]
	var ferr error
	err = w.stores(func(s bytesStore) bool {
		ferr = s.Range(wkey(kb, max(from.UnixMilli(), 0)), wkey(kb, to.UnixMilli()+1), func(key, val []byte) bool {
			_, ts, ok := parseWkey(key, nts)
			if !ok {
				return true
			}
			v, err := w.vs.Deserialize(val)
			if err != nil {
				ferr = err
				return false
			}
			win := Window{Start: time.UnixMilli(ts[0]), End: time.UnixMilli(ts[0] + w.def.windowSize)}
			if nts == 2 {
				win = Window{Start: time.UnixMilli(ts[1]), End: time.UnixMilli(ts[0])}
			}
			out = append(out, WindowValue[V]{win, v})
			return true
		})
		return ferr == nil
	})
	if err != nil {
		return nil, err
	}
	return out, ferr
}
