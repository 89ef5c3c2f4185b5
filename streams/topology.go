package streams

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Builder assembles a processing topology. Streams and tables created from a
// Builder describe the graph; nothing runs until the Topology from Build is
// given to New (brokers) or NewTestDriver (in memory).
//
// A Builder is not safe for concurrent use. Mistakes found while building
// (a topic consumed twice, a missing store, a serde of the wrong type) are
// collected and returned by Build; the DSL itself never panics on them.
type Builder struct {
	nodes   []*node
	stores  map[string]*storeDef
	sources map[string]*node // topic → source node
	errs    []error
	seq     int
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{stores: map[string]*storeDef{}, sources: map[string]*node{}}
}

func (b *Builder) errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

// name returns a generated node name, KSTREAM-FILTER-0000000003 style.
func (b *Builder) name(kind string) string {
	b.seq++
	return fmt.Sprintf("%s-%010d", kind, b.seq)
}

// topicRef names a topic; an internal topic's name is relative to the
// application id (<application.id>-<name>).
type topicRef struct {
	name     string
	internal bool
}

func (r topicRef) resolve(appID string) string {
	if r.internal {
		return appID + "-" + r.name
	}
	return r.name
}

type node struct {
	id       int
	name     string
	parents  []*node
	children []*node
	stores   []string // stores the processor reads or writes
	newProc  func() proc

	// Source nodes.
	topics []topicRef
	keyDe  erasedSerde
	valDe  erasedSerde
	tsx    TimestampExtractor
	global bool // feeds a global store; runs in the global thread
	offset OffsetReset

	// Sink nodes.
	sink *sinkDef
}

type sinkDef struct {
	topic topicRef
	ks    erasedSerde
	vs    erasedSerde
	// partitions, when set, is the partition count of an internal topic
	// (repartition); zero means "the sub-topology's source count".
	partitions int32
}

func (b *Builder) addNode(kind string, parents []*node, newProc func() proc, stores ...string) *node {
	n := &node{id: len(b.nodes), name: b.name(kind), newProc: newProc, stores: stores}
	for _, p := range parents {
		if p == nil {
			continue
		}
		n.parents = append(n.parents, p)
		p.children = append(p.children, n)
	}
	b.nodes = append(b.nodes, n)
	return n
}

func (b *Builder) addSource(kind string, topics []topicRef, ks, vs erasedSerde, tsx TimestampExtractor) *node {
	n := b.addNode(kind, nil, func() proc { return procFunc(forwardAll) })
	n.topics, n.keyDe, n.valDe, n.tsx = topics, ks, vs, tsx
	for _, t := range topics {
		key := t.name
		if t.internal {
			key = "\x00" + key
		}
		if _, dup := b.sources[key]; dup {
			b.errorf("topic %q is consumed by more than one source", t.name)
		}
		b.sources[key] = n
	}
	return n
}

func forwardAll(pc *pctx, r rec) error { return pc.forward(r) }

func (b *Builder) addStore(d *storeDef) {
	if old, dup := b.stores[d.name]; dup && old != d {
		b.errorf("store %q defined twice", d.name)
		return
	}
	b.stores[d.name] = d
}

// Topology is an immutable, validated processing graph split into
// sub-topologies: groups of nodes connected by edges or by a shared state
// store. Each sub-topology runs as one task per partition of its source
// topics; repartition topics connect sub-topologies.
type Topology struct {
	nodes  []*node
	subs   []*subtopology
	global *subtopology // global table sources and their stores, or nil
	stores map[string]*storeDef
}

type subtopology struct {
	id      int
	nodes   []*node
	sources []*node
	stores  []string
	// copartition groups source topics that must have equal partition
	// counts (all sources of a sub-topology, as Kafka Streams requires for
	// tasks to be defined by partition number).
	topics []topicRef
	sinks  []*sinkDef
}

// Build validates the graph and returns the Topology.
func (b *Builder) Build() (*Topology, error) {
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if len(b.nodes) == 0 {
		return nil, errors.New("streams: empty topology")
	}
	for _, n := range b.nodes {
		for _, s := range n.stores {
			if _, ok := b.stores[s]; !ok {
				return nil, fmt.Errorf("streams: node %s uses undefined store %q", n.name, s)
			}
		}
	}
	// Union-find over nodes: edges and shared (non-global) stores join.
	parent := make([]int, len(b.nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, c int) { parent[find(a)] = find(c) }
	storeOwner := map[string]int{}
	for _, n := range b.nodes {
		for _, c := range n.children {
			union(n.id, c.id)
		}
		for _, s := range n.stores {
			if b.stores[s].global && !n.global {
				continue // stream tasks read global stores without joining them
			}
			if o, ok := storeOwner[s]; ok {
				union(o, n.id)
			} else {
				storeOwner[s] = n.id
			}
		}
	}
	t := &Topology{nodes: b.nodes, stores: b.stores}
	byRoot := map[int]*subtopology{}
	var order []int
	for _, n := range b.nodes {
		r := find(n.id)
		st := byRoot[r]
		if st == nil {
			st = &subtopology{}
			byRoot[r] = st
			order = append(order, r)
		}
		st.nodes = append(st.nodes, n)
		if len(n.topics) > 0 {
			st.sources = append(st.sources, n)
			st.topics = append(st.topics, n.topics...)
		}
		if n.sink != nil {
			st.sinks = append(st.sinks, n.sink)
		}
		for _, s := range n.stores {
			if !slices.Contains(st.stores, s) && (!b.stores[s].global || n.global) {
				st.stores = append(st.stores, s)
			}
		}
	}
	for _, r := range order {
		st := byRoot[r]
		isGlobal := len(st.sources) > 0 && st.sources[0].global
		if len(st.sources) == 0 {
			return nil, fmt.Errorf("streams: nodes %s are not connected to any source", st.nodes[0].name)
		}
		for _, s := range st.sources {
			if s.global != isGlobal {
				return nil, fmt.Errorf("streams: global table source %s shares a sub-topology with stream sources", s.name)
			}
		}
		if isGlobal {
			if t.global == nil {
				t.global = &subtopology{id: -1}
			}
			g := t.global
			g.nodes = append(g.nodes, st.nodes...)
			g.sources = append(g.sources, st.sources...)
			g.topics = append(g.topics, st.topics...)
			g.stores = append(g.stores, st.stores...)
			continue
		}
		st.id = len(t.subs)
		t.subs = append(t.subs, st)
	}
	if len(t.subs) == 0 {
		return nil, errors.New("streams: topology has no stream sources")
	}
	return t, nil
}

// Describe returns a human-readable description of the sub-topologies,
// their sources, processors, stores and sinks, in the spirit of Kafka
// Streams' TopologyDescription.
func (t *Topology) Describe() string {
	var sb strings.Builder
	desc := func(title string, st *subtopology) {
		fmt.Fprintf(&sb, "%s\n", title)
		for _, n := range st.nodes {
			fmt.Fprintf(&sb, "  %s", n.name)
			if len(n.topics) > 0 {
				var ts []string
				for _, tp := range n.topics {
					ts = append(ts, tp.name)
				}
				fmt.Fprintf(&sb, " (topics: %s)", strings.Join(ts, ", "))
			}
			if n.sink != nil {
				fmt.Fprintf(&sb, " (topic: %s)", n.sink.topic.name)
			}
			if len(n.stores) > 0 {
				fmt.Fprintf(&sb, " (stores: %s)", strings.Join(n.stores, ", "))
			}
			if len(n.children) > 0 {
				var cs []string
				for _, c := range n.children {
					cs = append(cs, c.name)
				}
				fmt.Fprintf(&sb, " --> %s", strings.Join(cs, ", "))
			}
			sb.WriteByte('\n')
		}
	}
	for _, st := range t.subs {
		desc(fmt.Sprintf("Sub-topology: %d", st.id), st)
	}
	if t.global != nil {
		desc("Global stores", t.global)
	}
	return sb.String()
}

// internalTopics lists the repartition and changelog topics the
// application needs, with the sub-topology whose partition count they take.
type internalTopic struct {
	name    string // resolved
	configs map[string]*string
	// sub is the sub-topology whose task count sets the partitions; for
	// repartition topics it is the writing sub-topology's count.
	sub *subtopology
	// partitions, if non-zero, overrides the count.
	partitions int32
}

func (t *Topology) changelogTopic(appID, store string) string {
	return appID + "-" + store + "-changelog"
}

// storeKind is the layout of a store.
type storeKind int

const (
	kvStore storeKind = iota
	windowStoreKind
	sessionStoreKind
)

// storeDef declares a state store.
type storeDef struct {
	name       string
	kind       storeKind
	persistent bool
	logged     bool
	global     bool          // filled from a global table's topic; never logged
	retention  time.Duration // window and session stores
	windowSize int64         // ms, time-window stores (for queries)
	keySerde   any           // Serde[K], for typed access
	valSerde   any           // Serde[V]
}

func (d *storeDef) changelogConfigs() map[string]*string {
	s := func(v string) *string { return &v }
	cfg := map[string]*string{"cleanup.policy": s("compact")}
	if d.kind != kvStore {
		// Window and session changelogs also expire old windows (Kafka
		// Streams: compact,delete with retention = store retention + 1 day).
		cfg["cleanup.policy"] = s("compact,delete")
		cfg["retention.ms"] = s(fmt.Sprint((d.retention + 24*time.Hour).Milliseconds()))
	}
	return cfg
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
