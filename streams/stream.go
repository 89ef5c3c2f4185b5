package streams

// KeyValue is a key and a value, as returned by FlatMap.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KStream is an unbounded stream of records. Operations that keep the key
// and value types are methods; those that change them are functions (Go
// methods cannot have type parameters).
type KStream[K, V any] struct {
	b  *Builder
	n  *node
	ks Serde[K]
	vs Serde[V]
	// keyChanged marks a stream whose key may differ from its source
	// partitioning; grouping or joining it first goes through a
	// repartition topic.
	keyChanged bool
}

// Stream consumes topic as a KStream. Serdes default to DefaultSerde; set
// them with KeySerde and ValueSerde.
func Stream[K, V any](b *Builder, topic string, options ...Opt) KStream[K, V] {
	o := collect(options)
	ks, vs := keySerdeOr[K](b, o, nil), valSerdeOr[V](b, o, nil)
	n := b.addSource("KSTREAM-SOURCE", []topicRef{{name: topic}}, erase(ks), erase(vs), o.tsx)
	n.offset = o.offset
	return KStream[K, V]{b: b, n: n, ks: ks, vs: vs}
}

func (s KStream[K, V]) with(n *node) KStream[K, V] {
	s.n = n
	return s
}

// WithSerdes returns the stream with the serdes used by later
// serialization points (To, Repartition, grouping, joins).
func (s KStream[K, V]) WithSerdes(ks Serde[K], vs Serde[V]) KStream[K, V] {
	s.ks, s.vs = ks, vs
	return s
}

// Filter keeps the records for which pred is true.
func (s KStream[K, V]) Filter(pred func(K, V) bool) KStream[K, V] {
	return s.with(s.b.addNode("KSTREAM-FILTER", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if pred(as[K](r.key), as[V](r.value)) {
				return pc.forward(r)
			}
			return nil
		})
	}))
}

// FilterNot keeps the records for which pred is false.
func (s KStream[K, V]) FilterNot(pred func(K, V) bool) KStream[K, V] {
	return s.Filter(func(k K, v V) bool { return !pred(k, v) })
}

// Peek calls fn for each record and passes it on unchanged.
func (s KStream[K, V]) Peek(fn func(K, V)) KStream[K, V] {
	return s.with(s.b.addNode("KSTREAM-PEEK", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			fn(as[K](r.key), as[V](r.value))
			return pc.forward(r)
		})
	}))
}

// Foreach calls fn for each record; it ends the stream.
func (s KStream[K, V]) Foreach(fn func(K, V)) {
	s.b.addNode("KSTREAM-FOREACH", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			fn(as[K](r.key), as[V](r.value))
			return nil
		})
	})
}

// Merge interleaves two streams of the same types.
func (s KStream[K, V]) Merge(other KStream[K, V]) KStream[K, V] {
	out := s.with(s.b.addNode("KSTREAM-MERGE", []*node{s.n, other.n}, func() proc { return procFunc(forwardAll) }))
	out.keyChanged = s.keyChanged || other.keyChanged
	return out
}

// Branch splits the stream: each record goes to the first branch whose
// predicate is true, or is dropped if none is (Kafka's split()/branch()).
// Use a predicate that is always true as the default branch.
func (s KStream[K, V]) Branch(preds ...func(K, V) bool) []KStream[K, V] {
	bn := s.b.addNode("KSTREAM-BRANCH", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			k, v := as[K](r.key), as[V](r.value)
			for i, p := range preds {
				if p(k, v) {
					return pc.forwardTo(i, r)
				}
			}
			return nil
		})
	})
	out := make([]KStream[K, V], len(preds))
	for i := range preds {
		out[i] = s.with(s.b.addNode("KSTREAM-BRANCHCHILD", []*node{bn}, func() proc { return procFunc(forwardAll) }))
	}
	return out
}

// To writes the stream to topic, partitioned by the murmur2 hash of the
// serialized key like Kafka's default partitioner.
func (s KStream[K, V]) To(topic string, options ...Opt) {
	o := collect(options)
	ks, vs := keySerdeOr(s.b, o, s.ks), valSerdeOr(s.b, o, s.vs)
	s.b.addSink(s.n, topicRef{name: topic}, erase(ks), erase(vs), 0)
}

func (b *Builder) addSink(parent *node, topic topicRef, ks, vs erasedSerde, partitions int32) *node {
	n := b.addNode("KSTREAM-SINK", []*node{parent}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			k, err := ks.ser(r.key)
			if err != nil {
				return err
			}
			v, err := vs.ser(r.value)
			if err != nil {
				return err
			}
			return pc.t.env.send(topic.resolve(pc.t.env.appID()), -1, k, v, r.ts, r.headers)
		})
	})
	n.sink = &sinkDef{topic: topic, ks: ks, vs: vs, partitions: partitions}
	return n
}

// Repartition writes the stream through an internal topic
// (<application.id>-<name>-repartition) and reads it back, so records are
// partitioned by their current key. Named sets the name, Partitions the
// partition count (default: the upstream sub-topology's count).
func (s KStream[K, V]) Repartition(options ...Opt) KStream[K, V] {
	o := collect(options)
	ks, vs := keySerdeOr(s.b, o, s.ks), valSerdeOr(s.b, o, s.vs)
	name := o.name
	if name == "" {
		name = s.b.name("KSTREAM-REPARTITION")
	}
	return repartition(s.b, s.n, name+"-repartition", ks, vs, o.partitions)
}

func repartition[K, V any](b *Builder, parent *node, topic string, ks Serde[K], vs Serde[V], partitions int32) KStream[K, V] {
	ref := topicRef{name: topic, internal: true}
	b.addSink(parent, ref, erase(ks), erase(vs), partitions)
	src := b.addSource("KSTREAM-SOURCE", []topicRef{ref}, erase(ks), erase(vs), nil)
	return KStream[K, V]{b: b, n: src, ks: ks, vs: vs}
}

// Map transforms each record's key and value.
func Map[K, V, K2, V2 any](s KStream[K, V], fn func(K, V) (K2, V2), options ...Opt) KStream[K2, V2] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-MAP", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			k, v := fn(as[K](r.key), as[V](r.value))
			r.key, r.value = k, v
			return pc.forward(r)
		})
	})
	return KStream[K2, V2]{b: s.b, n: n, ks: keySerdeOr[K2](s.b, o, nil), vs: valSerdeOr[V2](s.b, o, nil), keyChanged: true}
}

// MapValues transforms each record's value; the key (and so the
// partitioning) is unchanged.
func MapValues[K, V, V2 any](s KStream[K, V], fn func(K, V) V2, options ...Opt) KStream[K, V2] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-MAPVALUES", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			r.value = fn(as[K](r.key), as[V](r.value))
			return pc.forward(r)
		})
	})
	return KStream[K, V2]{b: s.b, n: n, ks: s.ks, vs: valSerdeOr[V2](s.b, o, nil), keyChanged: s.keyChanged}
}

// FlatMap turns each record into zero or more records.
func FlatMap[K, V, K2, V2 any](s KStream[K, V], fn func(K, V) []KeyValue[K2, V2], options ...Opt) KStream[K2, V2] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-FLATMAP", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			for _, kv := range fn(as[K](r.key), as[V](r.value)) {
				out := r
				out.key, out.value = kv.Key, kv.Value
				if err := pc.forward(out); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return KStream[K2, V2]{b: s.b, n: n, ks: keySerdeOr[K2](s.b, o, nil), vs: valSerdeOr[V2](s.b, o, nil), keyChanged: true}
}

// FlatMapValues turns each value into zero or more values with the same key.
func FlatMapValues[K, V, V2 any](s KStream[K, V], fn func(K, V) []V2, options ...Opt) KStream[K, V2] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-FLATMAPVALUES", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			for _, v := range fn(as[K](r.key), as[V](r.value)) {
				out := r
				out.value = v
				if err := pc.forward(out); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return KStream[K, V2]{b: s.b, n: n, ks: s.ks, vs: valSerdeOr[V2](s.b, o, nil), keyChanged: s.keyChanged}
}

// SelectKey sets a new key computed from each record.
func SelectKey[K, V, K2 any](s KStream[K, V], fn func(K, V) K2, options ...Opt) KStream[K2, V] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-KEY-SELECT", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			r.key = fn(as[K](r.key), as[V](r.value))
			return pc.forward(r)
		})
	})
	return KStream[K2, V]{b: s.b, n: n, ks: keySerdeOr[K2](s.b, o, nil), vs: s.vs, keyChanged: true}
}
