package streams

import (
	"fmt"
	"sort"
	"time"
)

// TestDriver runs a Topology in memory, without brokers, for unit tests:
// records piped into input topics are processed synchronously, records
// written to repartition topics are processed right after, and everything
// written to any topic (including changelogs) can be read back. Every
// topic has one partition, so each sub-topology runs as one task (0_0,
// 1_0, …). Stores are in memory. Wall-clock time is virtual: it moves only
// with AdvanceWallClock.
//
// A TestDriver is not safe for concurrent use.
type TestDriver struct {
	topo    *Topology
	app     string
	tasks   []*task
	global  *task
	gstores map[string]bytesStore
	byTopic map[string]*task
	outputs map[string][]*rawRecord
	read    map[string]int
	offsets map[string]int64
	queue   []*rawRecord
	wall    time.Time
	onErr   ErrorHandler
}

type rawRecord struct {
	topic     string
	partition int32
	key, val  []byte
	ts        int64
	headers   []Header
}

// DriverOpt configures a TestDriver.
type DriverOpt func(*TestDriver)

// DriverApplicationID sets the application id used to name internal
// topics (default "test-app").
func DriverApplicationID(id string) DriverOpt { return func(d *TestDriver) { d.app = id } }

// DriverWallClock sets the initial wall-clock time (default the Unix epoch).
func DriverWallClock(t time.Time) DriverOpt { return func(d *TestDriver) { d.wall = t } }

// DriverErrorHandler sets the error handler for record-level errors; by
// default they are returned from Pipe.
func DriverErrorHandler(h ErrorHandler) DriverOpt { return func(d *TestDriver) { d.onErr = h } }

// NewTestDriver instantiates every task of topo.
func NewTestDriver(topo *Topology, options ...DriverOpt) (*TestDriver, error) {
	d := &TestDriver{topo: topo, app: "test-app", gstores: map[string]bytesStore{}, byTopic: map[string]*task{},
		outputs: map[string][]*rawRecord{}, read: map[string]int{}, offsets: map[string]int64{}, wall: time.UnixMilli(0)}
	for _, o := range options {
		o(d)
	}
	if topo.global != nil {
		for _, s := range topo.global.stores {
			d.gstores[s] = newMemStore()
		}
		g, err := newTask(TaskID{Subtopology: -1}, topo, topo.global, d)
		if err != nil {
			return nil, err
		}
		d.global = g
		for tp := range g.sources {
			d.byTopic[tp] = g
		}
	}
	for _, st := range topo.subs {
		t, err := newTask(TaskID{Subtopology: st.id}, topo, st, d)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.tasks = append(d.tasks, t)
		for tp := range t.sources {
			d.byTopic[tp] = t
		}
	}
	for _, t := range append([]*task{d.global}, d.tasks...) {
		if t == nil {
			continue
		}
		if err := t.init(); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func (d *TestDriver) appID() string                      { return d.app }
func (d *TestDriver) now() time.Time                     { return d.wall }
func (d *TestDriver) globalStore(name string) bytesStore { return d.gstores[name] }

func (d *TestDriver) openStore(def *storeDef, _ TaskID) (bytesStore, error) {
	if def.global {
		return d.gstores[def.name], nil
	}
	return newMemStore(), nil
}

func (d *TestDriver) send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error {
	r := &rawRecord{topic: topic, partition: 0, key: key, val: value, ts: ts, headers: headers}
	d.outputs[topic] = append(d.outputs[topic], r)
	if _, ok := d.byTopic[topic]; ok {
		d.queue = append(d.queue, r)
	}
	return nil
}

// pipe processes one input record and everything it causes.
func (d *TestDriver) pipe(r *rawRecord) error {
	d.queue = append(d.queue, r)
	for len(d.queue) > 0 {
		r := d.queue[0]
		d.queue = d.queue[1:]
		t := d.byTopic[r.topic]
		if t == nil {
			continue
		}
		off := d.offsets[r.topic]
		d.offsets[r.topic] = off + 1
		err := safeProcess(t, r.topic, 0, off, r.key, r.val, time.UnixMilli(r.ts), r.headers)
		if err = handle(d.onErr, err); err != nil {
			d.queue = nil
			return err
		}
	}
	return nil
}

// safeProcess runs t.process, turning a panic in user code into an Error.
func safeProcess(t *task, topic string, partition int32, offset int64, key, value []byte, ts time.Time, hs []Header) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Kind: ErrProcessing, Topic: topic, Partition: partition, Offset: offset, Err: fmt.Errorf("panic: %v", p)}
		}
	}()
	return t.process(topic, partition, offset, key, value, ts, hs)
}

// AdvanceWallClock moves virtual wall-clock time forward and fires due
// wall-clock punctuations.
func (d *TestDriver) AdvanceWallClock(dur time.Duration) error {
	d.wall = d.wall.Add(dur)
	for _, t := range d.tasks {
		if err := t.punctuate(true, d.wall.UnixMilli()); err != nil {
			return handle(d.onErr, err)
		}
	}
	return d.pipe(&rawRecord{}) // drain what punctuations wrote
}

// Topics returns the names of all topics written so far, sorted.
func (d *TestDriver) Topics() []string {
	out := sortedKeys(d.outputs)
	sort.Strings(out)
	return out
}

// DroppedRecords returns how many late records windowed operators dropped.
func (d *TestDriver) DroppedRecords() int64 {
	var n int64
	for _, t := range d.tasks {
		n += t.dropped
	}
	return n
}

// Close closes all tasks and stores.
func (d *TestDriver) Close() error {
	var first error
	for _, t := range append([]*task{d.global}, d.tasks...) {
		if t != nil {
			if err := t.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (d *TestDriver) findStore(name string) bytesStore {
	if s, ok := d.gstores[name]; ok {
		return s
	}
	for _, t := range d.tasks {
		if s, ok := t.raw[name]; ok {
			return s
		}
	}
	return nil
}

// TestInputTopic pipes typed records into a topic of a TestDriver.
type TestInputTopic[K, V any] struct {
	d     *TestDriver
	topic string
	ks    Serde[K]
	vs    Serde[V]
	ts    time.Time
}

// NewTestInputTopic returns an input for topic; serdes default to DefaultSerde.
func NewTestInputTopic[K, V any](d *TestDriver, topic string, options ...Opt) *TestInputTopic[K, V] {
	o := collect(options)
	b := &Builder{}
	return &TestInputTopic[K, V]{d: d, topic: topic, ks: keySerdeOr[K](b, o, nil), vs: valSerdeOr[V](b, o, nil), ts: time.UnixMilli(0)}
}

// Pipe sends a record with the input's current time, then advances that
// time by nothing (use PipeAt for event time).
func (in *TestInputTopic[K, V]) Pipe(k K, v V) error { return in.PipeAt(k, v, in.ts) }

// PipeAt sends a record with event time ts.
func (in *TestInputTopic[K, V]) PipeAt(k K, v V, ts time.Time) error {
	kb, err := in.ks.Serialize(k)
	if err != nil {
		return err
	}
	vb, err := in.vs.Serialize(v)
	if err != nil {
		return err
	}
	if vb == nil {
		vb = []byte{}
	}
	in.ts = ts
	return in.d.pipe(&rawRecord{topic: in.topic, key: kb, val: vb, ts: ts.UnixMilli()})
}

// PipeTombstone sends a record with a nil value (a table deletion).
func (in *TestInputTopic[K, V]) PipeTombstone(k K, ts time.Time) error {
	kb, err := in.ks.Serialize(k)
	if err != nil {
		return err
	}
	return in.d.pipe(&rawRecord{topic: in.topic, key: kb, ts: ts.UnixMilli()})
}

// PipeRaw sends raw bytes, e.g. to test deserialization errors.
func (in *TestInputTopic[K, V]) PipeRaw(key, value []byte, ts time.Time) error {
	return in.d.pipe(&rawRecord{topic: in.topic, key: key, val: value, ts: ts.UnixMilli()})
}

// TestOutputTopic reads typed records a TestDriver wrote to a topic.
type TestOutputTopic[K, V any] struct {
	d     *TestDriver
	topic string
	ks    Serde[K]
	vs    Serde[V]
}

// NewTestOutputTopic returns a reader for topic; serdes default to DefaultSerde.
func NewTestOutputTopic[K, V any](d *TestDriver, topic string, options ...Opt) *TestOutputTopic[K, V] {
	o := collect(options)
	b := &Builder{}
	return &TestOutputTopic[K, V]{d: d, topic: topic, ks: keySerdeOr[K](b, o, nil), vs: valSerdeOr[V](b, o, nil)}
}

// ReadRecords returns the records written since the last read. A nil
// value reads as V's zero value and Tombstone is set.
func (out *TestOutputTopic[K, V]) ReadRecords() ([]OutputRecord[K, V], error) {
	rs := out.d.outputs[out.topic]
	i := out.d.read[out.topic]
	out.d.read[out.topic] = len(rs)
	var res []OutputRecord[K, V]
	for _, r := range rs[i:] {
		var o OutputRecord[K, V]
		var err error
		if r.key != nil {
			if o.Key, err = out.ks.Deserialize(r.key); err != nil {
				return nil, fmt.Errorf("topic %s key: %w", out.topic, err)
			}
		}
		if r.val == nil {
			o.Tombstone = true
		} else if o.Value, err = out.vs.Deserialize(r.val); err != nil {
			return nil, fmt.Errorf("topic %s value: %w", out.topic, err)
		}
		o.Timestamp = time.UnixMilli(r.ts)
		o.Headers = r.headers
		res = append(res, o)
	}
	return res, nil
}

// ReadKeyValues returns the unread records as key-value pairs.
func (out *TestOutputTopic[K, V]) ReadKeyValues() ([]KeyValue[K, V], error) {
	rs, err := out.ReadRecords()
	var kvs []KeyValue[K, V]
	for _, r := range rs {
		kvs = append(kvs, KeyValue[K, V]{r.Key, r.Value})
	}
	return kvs, err
}

// ReadKeyValuesToMap returns the latest value per key of the unread
// records; tombstones delete.
func (out *TestOutputTopic[K, V]) ReadKeyValuesToMap() (map[string]V, error) {
	rs, err := out.ReadRecords()
	m := map[string]V{}
	for _, r := range rs {
		k := fmt.Sprint(r.Key)
		if r.Tombstone {
			delete(m, k)
		} else {
			m[k] = r.Value
		}
	}
	return m, err
}

// OutputRecord is a record read from a TestOutputTopic.
type OutputRecord[K, V any] struct {
	Key       K
	Value     V
	Tombstone bool
	Timestamp time.Time
	Headers   []Header
}

// DriverKeyValueStore returns a store of a TestDriver's topology for
// inspection and setup; writes are logged like a processor's.
func DriverKeyValueStore[K, V any](d *TestDriver, name string) (KeyValueStore[K, V], error) {
	def, ok := d.topo.stores[name]
	if !ok || def.kind != kvStore {
		return nil, fmt.Errorf("streams: no key-value store %q", name)
	}
	ks, ok1 := def.keySerde.(Serde[K])
	vs, ok2 := def.valSerde.(Serde[V])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("streams: store %q has serdes %T, %T", name, def.keySerde, def.valSerde)
	}
	return typedKV[K, V]{s: d.findStore(name), ks: ks, vs: vs}, nil
}
