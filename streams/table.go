package streams

import "time"

// KTable is a changelog stream seen as a table: each record is an update
// of its key, and a nil value (a tombstone) deletes it. Every KTable in
// this library is materialized in a key-value store, so it can be joined
// and queried.
type KTable[K, V any] struct {
	b     *Builder
	n     *node
	ks    Serde[K]
	vs    Serde[V]
	store string
	// win is set for windowed tables (key type Windowed[...]).
	win *windowInfo
}

type windowInfo struct {
	grace int64 // ms
}

// StoreName returns the name of the table's state store, for interactive
// queries and processors.
func (t KTable[K, V]) StoreName() string { return t.store }

func kvDef(name string, ks, vs any, o opts) *storeDef {
	return &storeDef{name: name, kind: kvStore, persistent: o.persistent, logged: !o.noLogging, keySerde: ks, valSerde: vs}
}

// Table consumes topic as a KTable, materialized in a store (Named sets its name).
func Table[K, V any](b *Builder, topic string, options ...Opt) KTable[K, V] {
	o := collect(options)
	ks, vs := keySerdeOr[K](b, o, nil), valSerdeOr[V](b, o, nil)
	src := b.addSource("KTABLE-SOURCE", []topicRef{{name: topic}}, erase(ks), erase(vs), o.tsx)
	src.offset = o.offset
	name := o.name
	if name == "" {
		name = topic + "-STATE-STORE"
	}
	return materialize(b, src, name, ks, vs, o, "KTABLE-SOURCE")
}

// materialize adds a node that writes each update into a new store and
// forwards it.
func materialize[K, V any](b *Builder, parent *node, name string, ks Serde[K], vs Serde[V], o opts, kind string) KTable[K, V] {
	b.addStore(kvDef(name, ks, vs, o))
	n := b.addNode(kind+"-MATERIALIZE", []*node{parent}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil
			}
			st := typedKV[K, V]{s: pc.store(name), ks: ks, vs: vs}
			if r.value == nil {
				if err := st.Delete(as[K](r.key)); err != nil {
					return err
				}
			} else if err := st.Put(as[K](r.key), as[V](r.value)); err != nil {
				return err
			}
			return pc.forward(r)
		})
	}, name)
	return KTable[K, V]{b: b, n: n, ks: ks, vs: vs, store: name}
}

// Filter keeps rows for which pred is true; a row that stops matching is
// deleted downstream (a tombstone is forwarded).
func (t KTable[K, V]) Filter(pred func(K, V) bool, options ...Opt) KTable[K, V] {
	o := collect(options)
	n := t.b.addNode("KTABLE-FILTER", []*node{t.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.value != nil && !pred(as[K](r.key), as[V](r.value)) {
				r.value = nil
			}
			return pc.forward(r)
		})
	})
	return materialize(t.b, n, t.b.storeName(o, "KTABLE-FILTER"), t.ks, t.vs, o, "KTABLE-FILTER")
}

// FilterNot keeps rows for which pred is false.
func (t KTable[K, V]) FilterNot(pred func(K, V) bool, options ...Opt) KTable[K, V] {
	return t.Filter(func(k K, v V) bool { return !pred(k, v) }, options...)
}

// ToStream returns the table's update stream; deletions arrive as records
// with a zero value (Kafka: null).
func (t KTable[K, V]) ToStream() KStream[K, V] {
	n := t.b.addNode("KTABLE-TOSTREAM", []*node{t.n}, func() proc { return procFunc(forwardAll) })
	return KStream[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs}
}

// TableMapValues transforms each row's value.
func TableMapValues[K, V, V2 any](t KTable[K, V], fn func(K, V) V2, options ...Opt) KTable[K, V2] {
	o := collect(options)
	n := t.b.addNode("KTABLE-MAPVALUES", []*node{t.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.value != nil {
				r.value = fn(as[K](r.key), as[V](r.value))
			}
			return pc.forward(r)
		})
	})
	vs := valSerdeOr[V2](t.b, o, nil)
	out := materialize(t.b, n, t.b.storeName(o, "KTABLE-MAPVALUES"), t.ks, vs, o, "KTABLE-MAPVALUES")
	out.win = t.win
	return out
}

// GlobalKTable is a table fully replicated to every instance: all
// partitions of its topic are read into a global store before processing
// starts and kept up to date. Streams join it by any key they compute,
// without co-partitioning.
type GlobalKTable[K, V any] struct {
	store string
	ks    Serde[K]
	vs    Serde[V]
}

// StoreName returns the name of the global store.
func (g GlobalKTable[K, V]) StoreName() string { return g.store }

// GlobalTable consumes topic as a GlobalKTable.
func GlobalTable[K, V any](b *Builder, topic string, options ...Opt) GlobalKTable[K, V] {
	o := collect(options)
	ks, vs := keySerdeOr[K](b, o, nil), valSerdeOr[V](b, o, nil)
	name := o.name
	if name == "" {
		name = topic + "-GLOBAL-STORE"
	}
	src := b.addSource("KTABLE-GLOBAL-SOURCE", []topicRef{{name: topic}}, erase(ks), erase(vs), o.tsx)
	src.global = true
	d := kvDef(name, ks, vs, o)
	d.global, d.logged = true, false
	b.addStore(d)
	n := b.addNode("KTABLE-GLOBAL-MATERIALIZE", []*node{src}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil
			}
			st := typedKV[K, V]{s: pc.store(name), ks: ks, vs: vs}
			if r.value == nil {
				return st.Delete(as[K](r.key))
			}
			return st.Put(as[K](r.key), as[V](r.value))
		})
	}, name)
	n.global = true
	return GlobalKTable[K, V]{store: name, ks: ks, vs: vs}
}

// KGroupedStream is a stream grouped by key, ready to aggregate.
type KGroupedStream[K, V any] struct {
	s       KStream[K, V]
	repart  bool
	reName  string
	options []Opt
}

// GroupByKey groups by the current key. If the key may have changed since
// the source (Map, SelectKey, FlatMap), the aggregation first repartitions
// through an internal topic.
func (s KStream[K, V]) GroupByKey(options ...Opt) KGroupedStream[K, V] {
	o := collect(options)
	s.ks, s.vs = keySerdeOr(s.b, o, s.ks), valSerdeOr(s.b, o, s.vs)
	return KGroupedStream[K, V]{s: s, repart: s.keyChanged, reName: o.name}
}

// GroupBy groups by a new key computed from each record; the aggregation
// repartitions by it.
func GroupBy[K, V, K2 any](s KStream[K, V], fn func(K, V) K2, options ...Opt) KGroupedStream[K2, V] {
	o := collect(options)
	sk := SelectKey(s, fn, options...)
	sk.vs = valSerdeOr(s.b, o, s.vs)
	return KGroupedStream[K2, V]{s: sk, repart: true, reName: o.name}
}

// source returns the stream to aggregate, repartitioned if needed.
func (g KGroupedStream[K, V]) source(store string) KStream[K, V] {
	if !g.repart {
		return g.s
	}
	name := g.reName
	if name == "" {
		name = store
	}
	return repartition(g.s.b, g.s.n, name+"-repartition", g.s.ks, g.s.vs, 0)
}

// Count counts records per key.
func (g KGroupedStream[K, V]) Count(options ...Opt) KTable[K, int64] {
	return Aggregate(g, func() int64 { return 0 }, func(_ K, _ V, agg int64) int64 { return agg + 1 },
		append([]Opt{ValueSerde(Int64())}, options...)...)
}

// Reduce combines the values of each key with fn.
func (g KGroupedStream[K, V]) Reduce(fn func(agg, v V) V, options ...Opt) KTable[K, V] {
	o := collect(options)
	vs := valSerdeOr(g.s.b, o, g.s.vs)
	return aggregate(g, "KSTREAM-REDUCE", vs, o, func(k K, v V, old V, found bool) V {
		if !found {
			return v
		}
		return fn(old, v)
	})
}

// Aggregate folds the values of each key into an aggregate of type VA,
// starting from init(). ValueSerde sets the aggregate's serde.
func Aggregate[K, V, VA any](g KGroupedStream[K, V], init func() VA, fn func(K, V, VA) VA, options ...Opt) KTable[K, VA] {
	o := collect(options)
	vs := valSerdeOr[VA](g.s.b, o, nil)
	return aggregate(g, "KSTREAM-AGGREGATE", vs, o, func(k K, v V, old VA, found bool) VA {
		if !found {
			old = init()
		}
		return fn(k, v, old)
	})
}

func aggregate[K, V, VA any](g KGroupedStream[K, V], kind string, vs Serde[VA], o opts, fn func(K, V, VA, bool) VA) KTable[K, VA] {
	b := g.s.b
	name := b.storeName(o, kind)
	src := g.source(name)
	ks := src.ks
	b.addStore(kvDef(name, ks, vs, o))
	n := b.addNode(kind, []*node{src.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil // Kafka Streams drops null keys in aggregations
			}
			st := typedKV[K, VA]{s: pc.store(name), ks: ks, vs: vs}
			k := as[K](r.key)
			old, found, err := st.Get(k)
			if err != nil {
				return err
			}
			nv := fn(k, as[V](r.value), old, found)
			if err := st.Put(k, nv); err != nil {
				return err
			}
			r.value = nv
			return pc.forward(r)
		})
	}, name)
	return KTable[K, VA]{b: b, n: n, ks: ks, vs: vs, store: name}
}

func msOf(d time.Duration) int64 { return d.Milliseconds() }
