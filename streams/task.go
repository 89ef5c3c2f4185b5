package streams

import (
	"fmt"
	"math"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a typed record flowing through a topology.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp time.Time
	Headers   []Header
}

// TimestampExtractor returns the event time of a consumed record, given
// its raw key, value and the timestamp stored in Kafka. The default uses
// the Kafka timestamp. A negative result makes the record invalid: it is
// reported to the error handler (ErrorKind Deserialization).
type TimestampExtractor func(topic string, key, value []byte, kafkaTimestamp time.Time) time.Time

// OffsetReset is where a source starts when its group has no committed offset.
type OffsetReset int

const (
	// Earliest starts from the beginning of the partition (the default).
	Earliest OffsetReset = iota
	// Latest starts from the end of the partition.
	Latest
)

// TaskID names a task: a sub-topology and the partition number it
// processes in each of the sub-topology's source topics.
type TaskID struct {
	Subtopology int
	Partition   int32
}

func (id TaskID) String() string { return fmt.Sprintf("%d_%d", id.Subtopology, id.Partition) }

// rec is a record inside the runtime, with types erased.
type rec struct {
	key, value any
	ts         int64 // event time, ms
	headers    []Header
}

// proc is a processor instance, created once per task and node.
type proc interface {
	init(pc *pctx) error
	process(pc *pctx, r rec) error
}

type procFunc func(pc *pctx, r rec) error

func (procFunc) init(*pctx) error                { return nil }
func (f procFunc) process(pc *pctx, r rec) error { return f(pc, r) }

type closer interface{ close() error }

// pctx is one node's view of its task.
type pctx struct {
	t        *task
	n        *node
	proc     proc
	children []*pctx
}

func (pc *pctx) forward(r rec) error {
	for _, c := range pc.children {
		if err := c.proc.process(c, r); err != nil {
			return err
		}
	}
	return nil
}

func (pc *pctx) forwardTo(i int, r rec) error {
	c := pc.children[i]
	return c.proc.process(c, r)
}

func (pc *pctx) store(name string) bytesStore { return pc.t.store(name) }

// taskEnv is what a task needs from its runtime (brokers or test driver).
type taskEnv interface {
	appID() string
	// send writes a record to a topic; partition < 0 partitions by key.
	send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error
	openStore(d *storeDef, id TaskID) (bytesStore, error)
	globalStore(name string) bytesStore
	now() time.Time
}

type punctuation struct {
	interval int64 // ms
	next     int64
	wall     bool
	fn       func(ts time.Time) error
	pc       *pctx
}

// task runs one sub-topology for one partition number. It is owned by a
// single goroutine (the stream thread); only its stores are shared, with
// interactive queries.
type task struct {
	id         TaskID
	sub        *subtopology
	topo       *Topology
	env        taskEnv
	pcs        []*pctx
	sources    map[string]*pctx // resolved topic → source
	stores     map[string]bytesStore
	raw        map[string]bytesStore // unlogged, for restoration
	streamTime int64
	puncs      []*punctuation
	dropped    int64 // late records dropped by windowed operators

	// The record being processed.
	curTopic     string
	curPartition int32
	curOffset    int64
	curTS        int64
}

func newTask(id TaskID, topo *Topology, sub *subtopology, env taskEnv) (*task, error) {
	t := &task{id: id, sub: sub, topo: topo, env: env, sources: map[string]*pctx{},
		stores: map[string]bytesStore{}, raw: map[string]bytesStore{}, streamTime: math.MinInt64}
	appID := env.appID()
	for _, name := range sub.stores {
		d := topo.stores[name]
		bs, err := env.openStore(d, id)
		if err != nil {
			t.close()
			return nil, err
		}
		t.raw[name] = bs
		if d.logged && !d.global {
			topic := topo.changelogTopic(appID, name)
			part := id.Partition
			t.stores[name] = &loggedStore{bytesStore: bs, log: func(k, v []byte) error {
				return env.send(topic, part, k, v, t.curTS, nil)
			}}
		} else {
			t.stores[name] = bs
		}
	}
	byID := map[int]*pctx{}
	for _, n := range sub.nodes {
		pc := &pctx{t: t, n: n, proc: n.newProc()}
		byID[n.id] = pc
		t.pcs = append(t.pcs, pc)
		for _, tp := range n.topics {
			t.sources[tp.resolve(appID)] = pc
		}
	}
	for _, pc := range t.pcs {
		for _, c := range pc.n.children {
			pc.children = append(pc.children, byID[c.id])
		}
	}
	return t, nil
}

// init initializes processors; stores must already be restored.
func (t *task) init() error {
	for _, pc := range t.pcs {
		if err := pc.proc.init(pc); err != nil {
			return fmt.Errorf("task %s: init %s: %w", t.id, pc.n.name, err)
		}
	}
	return nil
}

func (t *task) store(name string) bytesStore {
	if s, ok := t.stores[name]; ok {
		return s
	}
	if d, ok := t.topo.stores[name]; ok && d.global {
		return t.env.globalStore(name)
	}
	return nil
}

// process runs one consumed record through the task. The returned error
// carries the kind (deserialization or processing) for the error handler.
func (t *task) process(topic string, partition int32, offset int64, key, value []byte, kafkaTS time.Time, headers []Header) error {
	src := t.sources[topic]
	if src == nil {
		return fmt.Errorf("BUG: task %s has no source for topic %s", t.id, topic)
	}
	t.curTopic, t.curPartition, t.curOffset = topic, partition, offset
	ts := kafkaTS
	if src.n.tsx != nil {
		ts = src.n.tsx(topic, key, value, kafkaTS)
	}
	if ts.UnixMilli() < 0 {
		return &Error{Kind: ErrDeserialization, Topic: topic, Partition: partition, Offset: offset,
			Err: fmt.Errorf("invalid timestamp %d", ts.UnixMilli())}
	}
	k, err := src.n.keyDe.de(key)
	if err != nil {
		return &Error{Kind: ErrDeserialization, Topic: topic, Partition: partition, Offset: offset, Err: fmt.Errorf("key: %w", err)}
	}
	v, err := src.n.valDe.de(value)
	if err != nil {
		return &Error{Kind: ErrDeserialization, Topic: topic, Partition: partition, Offset: offset, Err: fmt.Errorf("value: %w", err)}
	}
	r := rec{key: k, value: v, ts: ts.UnixMilli(), headers: headers}
	t.curTS = r.ts
	if r.ts > t.streamTime {
		t.streamTime = r.ts
	}
	if err := src.proc.process(src, r); err != nil {
		return &Error{Kind: ErrProcessing, Topic: topic, Partition: partition, Offset: offset, Err: err}
	}
	return t.punctuate(false, 0)
}

// punctuate fires due stream-time (wall=false) or wall-clock punctuations.
func (t *task) punctuate(wall bool, nowMS int64) error {
	now := t.streamTime
	if wall {
		now = nowMS
	}
	for _, p := range t.puncs {
		if p.wall != wall || now == math.MinInt64 {
			continue
		}
		if p.next == math.MinInt64 {
			p.next = now + p.interval
			if !wall {
				p.next = now // Kafka: the first stream-time punctuation fires at the first record
			}
		}
		if now < p.next {
			continue
		}
		p.next = now + p.interval
		t.curTS = now
		if err := p.run(now); err != nil {
			return &Error{Kind: ErrProcessing, Topic: t.curTopic, Partition: t.curPartition, Offset: t.curOffset,
				Err: fmt.Errorf("punctuation in %s: %w", p.pc.n.name, err)}
		}
	}
	return nil
}

// run calls the punctuation, turning a panic in user code into an error.
func (p *punctuation) run(now int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.fn(time.UnixMilli(now))
}

func (t *task) schedule(pc *pctx, interval time.Duration, wall bool, fn func(time.Time) error) {
	if fn == nil {
		return
	}
	iv := interval.Milliseconds()
	if iv <= 0 {
		iv = 1
	}
	p := &punctuation{interval: iv, next: math.MinInt64, wall: wall, fn: fn, pc: pc}
	if wall {
		p.next = t.env.now().UnixMilli() + iv // Kafka: first wall-clock punctuation one interval after scheduling
	}
	t.puncs = append(t.puncs, p)
}

func (t *task) flush() error {
	for _, name := range sortedKeys(t.raw) {
		if err := t.raw[name].Flush(); err != nil {
			return fmt.Errorf("flush store %s: %w", name, err)
		}
	}
	return nil
}

func (t *task) close() error {
	var first error
	for _, pc := range t.pcs {
		if c, ok := pc.proc.(closer); ok {
			if err := c.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	for _, name := range sortedKeys(t.raw) {
		if err := t.raw[name].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
