package streams

import (
	"fmt"
	"time"
)

// Opt configures one DSL operation: serdes, names, store kind. Options an
// operation does not use are ignored.
type Opt func(*opts)

type opts struct {
	keySerde   any
	valSerde   any
	name       string
	persistent bool
	noLogging  bool
	tsx        TimestampExtractor
	offset     OffsetReset
	partitions int32
	retention  time.Duration
}

func collect(os []Opt) opts {
	var o opts
	for _, f := range os {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// KeySerde sets the serde for the keys an operation reads or writes.
func KeySerde[K any](s Serde[K]) Opt { return func(o *opts) { o.keySerde = s } }

// ValueSerde sets the serde for the values an operation reads, writes or
// stores (for aggregations: the aggregate).
func ValueSerde[V any](s Serde[V]) Opt { return func(o *opts) { o.valSerde = s } }

// Named names the state store an operation materializes (and so its
// changelog topic, <application.id>-<name>-changelog), or the repartition
// topic of Repartition (<application.id>-<name>-repartition).
func Named(name string) Opt { return func(o *opts) { o.name = name } }

// Persistent keeps the operation's store in pebble under the state
// directory instead of in memory.
func Persistent() Opt { return func(o *opts) { o.persistent = true } }

// WithoutLogging disables the store's changelog topic: its state is lost
// when the task moves or the instance restarts.
func WithoutLogging() Opt { return func(o *opts) { o.noLogging = true } }

// WithTimestampExtractor sets a source's event-time extractor.
func WithTimestampExtractor(f TimestampExtractor) Opt { return func(o *opts) { o.tsx = f } }

// WithOffsetReset sets where a source starts without a committed offset.
func WithOffsetReset(r OffsetReset) Opt { return func(o *opts) { o.offset = r } }

// Partitions sets the partition count of a repartition topic.
func Partitions(n int32) Opt { return func(o *opts) { o.partitions = n } }

// Retention sets how long a window or session store keeps windows after
// they close (default 24h, never less than window size plus grace).
func Retention(d time.Duration) Opt { return func(o *opts) { o.retention = d } }

func keySerdeOr[K any](b *Builder, o opts, dflt Serde[K]) Serde[K] {
	if o.keySerde == nil {
		if dflt == nil {
			return DefaultSerde[K]()
		}
		return dflt
	}
	s, ok := o.keySerde.(Serde[K])
	if !ok {
		var k K
		b.errorf("streams: key serde %T does not handle %T", o.keySerde, k)
		return DefaultSerde[K]()
	}
	return s
}

func valSerdeOr[V any](b *Builder, o opts, dflt Serde[V]) Serde[V] {
	if o.valSerde == nil {
		if dflt == nil {
			return DefaultSerde[V]()
		}
		return dflt
	}
	s, ok := o.valSerde.(Serde[V])
	if !ok {
		var v V
		b.errorf("streams: value serde %T does not handle %T", o.valSerde, v)
		return DefaultSerde[V]()
	}
	return s
}

func (b *Builder) storeName(o opts, kind string) string {
	if o.name != "" {
		return o.name
	}
	return fmt.Sprintf("%s-STATE-STORE-%010d", kind, b.seq)
}
