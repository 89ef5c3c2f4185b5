package streams

import (
	"fmt"
	"time"
)

// PunctuationType selects the clock that drives a punctuation.
type PunctuationType int

const (
	// StreamTime punctuations fire as the task's stream time (the largest
	// event time seen) advances; they never fire without input.
	StreamTime PunctuationType = iota
	// WallClockTime punctuations fire on the wall clock, checked by the
	// stream thread between polls (and by TestDriver.AdvanceWallClock).
	WallClockTime
)

// StoreGetter gives access to a task's state stores; see GetKeyValueStore.
type StoreGetter interface {
	stateStore(name string) (bytesStore, *storeDef)
}

// ProcessorContext is a processor's view of its task.
type ProcessorContext[K, V any] interface {
	StoreGetter
	// Forward sends a record to the processor's children.
	Forward(r Record[K, V]) error
	// Schedule runs fn every interval of the given time type.
	Schedule(interval time.Duration, typ PunctuationType, fn func(now time.Time) error)
	TaskID() TaskID
	// Topic, Partition and Offset locate the input record being processed.
	Topic() string
	Partition() int32
	Offset() int64
	// StreamTime is the largest event time the task has seen.
	StreamTime() time.Time
}

// Processor is a custom processing step (Kafka's Processor API). A new
// instance is created for each task; it runs on one goroutine.
type Processor[KIn, VIn, KOut, VOut any] interface {
	Init(ctx ProcessorContext[KOut, VOut]) error
	Process(r Record[KIn, VIn]) error
}

// Process adds a custom processor. newProcessor is called once per task;
// stores names the stores it uses (added with AddKeyValueStore).
func Process[KIn, VIn, KOut, VOut any](s KStream[KIn, VIn], newProcessor func() Processor[KIn, VIn, KOut, VOut], stores []string, options ...Opt) KStream[KOut, VOut] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-PROCESSOR", []*node{s.n}, func() proc {
		return &userProc[KIn, VIn, KOut, VOut]{p: newProcessor()}
	}, stores...)
	return KStream[KOut, VOut]{b: s.b, n: n, ks: keySerdeOr[KOut](s.b, o, nil), vs: valSerdeOr[VOut](s.b, o, nil), keyChanged: true}
}

type userProc[KIn, VIn, KOut, VOut any] struct {
	p  Processor[KIn, VIn, KOut, VOut]
	pc *pctx
}

func (u *userProc[KIn, VIn, KOut, VOut]) init(pc *pctx) error {
	u.pc = pc
	return u.p.Init(u)
}

func (u *userProc[KIn, VIn, KOut, VOut]) process(_ *pctx, r rec) error {
	return u.p.Process(Record[KIn, VIn]{Key: as[KIn](r.key), Value: as[VIn](r.value), Timestamp: time.UnixMilli(r.ts), Headers: r.headers})
}

func (u *userProc[KIn, VIn, KOut, VOut]) close() error {
	if c, ok := u.p.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

func (u *userProc[KIn, VIn, KOut, VOut]) stateStore(name string) (bytesStore, *storeDef) {
	if !contains(u.pc.n.stores, name) {
		return nil, nil
	}
	return u.pc.store(name), u.pc.t.topo.stores[name]
}

func (u *userProc[KIn, VIn, KOut, VOut]) Forward(r Record[KOut, VOut]) error {
	ts := r.Timestamp.UnixMilli()
	if r.Timestamp.IsZero() {
		ts = u.pc.t.curTS
	}
	return u.pc.forward(rec{key: r.Key, value: r.Value, ts: ts, headers: r.Headers})
}

func (u *userProc[KIn, VIn, KOut, VOut]) Schedule(iv time.Duration, typ PunctuationType, fn func(time.Time) error) {
	u.pc.t.schedule(u.pc, iv, typ == WallClockTime, fn)
}

func (u *userProc[KIn, VIn, KOut, VOut]) TaskID() TaskID   { return u.pc.t.id }
func (u *userProc[KIn, VIn, KOut, VOut]) Topic() string    { return u.pc.t.curTopic }
func (u *userProc[KIn, VIn, KOut, VOut]) Partition() int32 { return u.pc.t.curPartition }
func (u *userProc[KIn, VIn, KOut, VOut]) Offset() int64    { return u.pc.t.curOffset }
func (u *userProc[KIn, VIn, KOut, VOut]) StreamTime() time.Time {
	return time.UnixMilli(u.pc.t.streamTime)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// AddKeyValueStore declares a key-value store for processors. Options:
// KeySerde, ValueSerde, Persistent, WithoutLogging.
func AddKeyValueStore[K, V any](b *Builder, name string, options ...Opt) {
	o := collect(options)
	b.addStore(kvDef(name, keySerdeOr[K](b, o, nil), valSerdeOr[V](b, o, nil), o))
}

// GetKeyValueStore returns a store the processor declared in Process.
func GetKeyValueStore[K, V any](ctx StoreGetter, name string) (KeyValueStore[K, V], error) {
	s, def := ctx.stateStore(name)
	if s == nil || def == nil || def.kind != kvStore {
		return nil, fmt.Errorf("streams: processor has no key-value store %q (list it in Process)", name)
	}
	ks, ok1 := def.keySerde.(Serde[K])
	vs, ok2 := def.valSerde.(Serde[V])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("streams: store %q has serdes %T, %T", name, def.keySerde, def.valSerde)
	}
	return typedKV[K, V]{s: s, ks: ks, vs: vs}, nil
}
