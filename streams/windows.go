package streams

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Window is a time interval [Start, End) of event time (for sliding
// windows End is inclusive, as in Kafka Streams).
type Window struct {
	Start, End time.Time
}

// Windowed is the key of a windowed aggregation's result.
type Windowed[K any] struct {
	Key    K
	Window Window
}

// WindowedSerde encodes a Windowed key as the inner key's bytes followed
// by the window start and end in milliseconds (8 bytes big-endian each).
func WindowedSerde[K any](inner Serde[K]) Serde[Windowed[K]] {
	return SerdeFuncs[Windowed[K]]{
		Ser: func(w Windowed[K]) ([]byte, error) {
			b, err := inner.Serialize(w.Key)
			if err != nil {
				return nil, err
			}
			b = binary.BigEndian.AppendUint64(append([]byte(nil), b...), uint64(w.Window.Start.UnixMilli()))
			return binary.BigEndian.AppendUint64(b, uint64(w.Window.End.UnixMilli())), nil
		},
		De: func(b []byte) (Windowed[K], error) {
			var w Windowed[K]
			if len(b) < 16 {
				return w, fmt.Errorf("windowed serde: %d bytes, want at least 16", len(b))
			}
			n := len(b) - 16
			k, err := inner.Deserialize(b[:n])
			if err != nil {
				return w, err
			}
			w.Key = k
			w.Window.Start = time.UnixMilli(int64(binary.BigEndian.Uint64(b[n:])))
			w.Window.End = time.UnixMilli(int64(binary.BigEndian.Uint64(b[n+8:])))
			return w, nil
		},
	}
}

// TimeWindows are fixed-size windows aligned to the epoch: tumbling when
// Advance is zero or equal to Size, hopping when smaller. A record belongs
// to every window [start, start+Size) that contains its event time.
// Records arriving after a window's end plus Grace (in stream time) are
// dropped as late.
type TimeWindows struct {
	Size    time.Duration
	Advance time.Duration
	Grace   time.Duration
}

// SlidingWindows (KIP-450) aggregate, for each record, the records within
// TimeDifference before it: windows [t-TimeDifference, t], both ends
// inclusive, created as records arrive.
type SlidingWindows struct {
	TimeDifference time.Duration
	Grace          time.Duration
}

// SessionWindows group records of a key separated by less than
// InactivityGap into one session; sessions merge when a record bridges them.
type SessionWindows struct {
	InactivityGap time.Duration
	Grace         time.Duration
}

// wkey encodes a window-store key: len(k) (4 bytes) | k | t1 (8) [| t2 (8)].
// Ordering groups a key's entries and sorts them by t1 then t2.
func wkey(k []byte, ts ...int64) []byte {
	b := make([]byte, 0, 4+len(k)+8*len(ts))
	b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
	b = append(b, k...)
	for _, t := range ts {
		b = binary.BigEndian.AppendUint64(b, uint64(t))
	}
	return b
}

// wprefix is the prefix of all entries of key k.
func wprefix(k []byte) []byte { return wkey(k) }

// parseWkey splits a window-store key into the key and its timestamps;
// ok is false for malformed input.
func parseWkey(b []byte, n int) (k []byte, ts []int64, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	l := int(binary.BigEndian.Uint32(b))
	if len(b) != 4+l+8*n {
		return nil, nil, false
	}
	k = b[4 : 4+l]
	for i := 0; i < n; i++ {
		ts = append(ts, int64(binary.BigEndian.Uint64(b[4+l+8*i:])))
	}
	return k, ts, true
}

// TimeWindowedStream is a grouped stream windowed by time.
type TimeWindowedStream[K, V any] struct {
	g       KGroupedStream[K, V]
	tw      *TimeWindows
	sliding *SlidingWindows
}

// WindowedBy windows the grouped stream (a function, not a method: a
// method would make Go instantiate KStream[Windowed[Windowed[…]]] forever) with tumbling or hopping windows.
func WindowedBy[K, V any](g KGroupedStream[K, V], w TimeWindows) TimeWindowedStream[K, V] {
	if w.Advance == 0 {
		w.Advance = w.Size
	}
	if w.Size <= 0 || w.Advance <= 0 || w.Advance > w.Size {
		g.s.b.errorf("streams: invalid time windows size %v advance %v", w.Size, w.Advance)
	}
	return TimeWindowedStream[K, V]{g: g, tw: &w}
}

// WindowedBySliding windows the grouped stream with sliding windows.
func WindowedBySliding[K, V any](g KGroupedStream[K, V], w SlidingWindows) TimeWindowedStream[K, V] {
	if w.TimeDifference <= 0 {
		g.s.b.errorf("streams: invalid sliding window time difference %v", w.TimeDifference)
	}
	return TimeWindowedStream[K, V]{g: g, sliding: &w}
}

// Count counts records per key and window.
func (w TimeWindowedStream[K, V]) Count(options ...Opt) KTable[Windowed[K], int64] {
	return WindowedAggregate(w, func() int64 { return 0 }, func(_ K, _ V, a int64) int64 { return a + 1 },
		append([]Opt{ValueSerde(Int64())}, options...)...)
}

// Reduce combines the values of each key and window.
func (w TimeWindowedStream[K, V]) Reduce(fn func(agg, v V) V, options ...Opt) KTable[Windowed[K], V] {
	o := collect(options)
	vs := valSerdeOr(w.g.s.b, o, w.g.s.vs)
	return windowedAggregate(w, vs, o, nil, func(k K, v V, agg V, found bool) V {
		if !found {
			return v
		}
		return fn(agg, v)
	})
}

// WindowedAggregate folds each key's values per window.
func WindowedAggregate[K, V, VA any](w TimeWindowedStream[K, V], init func() VA, fn func(K, V, VA) VA, options ...Opt) KTable[Windowed[K], VA] {
	o := collect(options)
	vs := valSerdeOr[VA](w.g.s.b, o, nil)
	return windowedAggregate(w, vs, o, init, func(k K, v V, agg VA, found bool) VA {
		if !found {
			agg = init()
		}
		return fn(k, v, agg)
	})
}

func retentionOf(o opts, minimum time.Duration) time.Duration {
	r := o.retention
	if r == 0 {
		r = 24 * time.Hour
	}
	return max(r, minimum)
}

func windowedAggregate[K, V, VA any](w TimeWindowedStream[K, V], vs Serde[VA], o opts, init func() VA, fn func(K, V, VA, bool) VA) KTable[Windowed[K], VA] {
	b := w.g.s.b
	name := b.storeName(o, "KSTREAM-WINDOWED-AGGREGATE")
	src := w.g.source(name)
	ks := src.ks
	var grace, size, advance, diff int64
	if w.tw != nil {
		grace, size, advance = msOf(w.tw.Grace), msOf(w.tw.Size), msOf(w.tw.Advance)
	} else {
		grace, diff = msOf(w.sliding.Grace), msOf(w.sliding.TimeDifference)
		size = diff
	}
	retention := retentionOf(o, time.Duration(size+grace)*time.Millisecond).Milliseconds()
	b.addStore(&storeDef{name: name, kind: windowStoreKind, persistent: o.persistent, logged: !o.noLogging,
		retention: time.Duration(retention) * time.Millisecond, keySerde: ks, valSerde: vs, windowSize: size})
	var stores = []string{name}
	bufName := name + "-BUFFER"
	if w.sliding != nil {
		b.addStore(&storeDef{name: bufName, kind: windowStoreKind, persistent: o.persistent, logged: !o.noLogging,
			retention: time.Duration(retention) * time.Millisecond, keySerde: ks, valSerde: src.vs})
		stores = append(stores, bufName)
	}
	wks := WindowedSerde(ks)
	emit := func(pc *pctx, k K, start, end int64, v VA, ts int64) error {
		return pc.forward(rec{key: Windowed[K]{Key: k, Window: Window{Start: time.UnixMilli(start), End: time.UnixMilli(end)}}, value: v, ts: ts})
	}
	n := b.addNode("KSTREAM-WINDOWED-AGGREGATE", []*node{src.n}, func() proc {
		var lastPurge int64 = math.MinInt64
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil
			}
			st := pc.store(name)
			k := as[K](r.key)
			kb, err := ks.Serialize(k)
			if err != nil {
				return err
			}
			closeTime := pc.t.streamTime - grace
			if pc.t.streamTime-lastPurge > max(retention/4, 1000) {
				lastPurge = pc.t.streamTime
				if err := purgeWindows(st, pc.t.streamTime-retention, 1); err != nil {
					return err
				}
				if w.sliding != nil {
					if err := purgeWindows(pc.store(bufName), pc.t.streamTime-retention, 2); err != nil {
						return err
					}
				}
			}
			get := func(start int64) (VA, bool, error) {
				var zero VA
				vb, err := st.Get(wkey(kb, start))
				if err != nil || vb == nil {
					return zero, false, err
				}
				v, err := vs.Deserialize(vb)
				return v, err == nil, err
			}
			put := func(start int64, v VA) error {
				vb, err := vs.Serialize(v)
				if err != nil {
					return err
				}
				return st.Put(wkey(kb, start), vb)
			}
			if w.tw != nil {
				start := max(0, r.ts-size+advance) / advance * advance
				for ; start <= r.ts; start += advance {
					end := start + size
					if end <= closeTime {
						pc.t.dropped++
						continue
					}
					old, found, err := get(start)
					if err != nil {
						return err
					}
					nv := fn(k, as[V](r.value), old, found)
					if err := put(start, nv); err != nil {
						return err
					}
					if err := emit(pc, k, start, end, nv, r.ts); err != nil {
						return err
					}
				}
				return nil
			}
			// Sliding windows: keep the records, recompute affected windows.
			if r.ts+diff+1 <= closeTime {
				pc.t.dropped++
				return nil
			}
			buf := pc.store(bufName)
			vb, err := src.vs.Serialize(as[V](r.value))
			if err != nil {
				return err
			}
			if vb == nil {
				vb = []byte{}
			}
			if err := buf.Put(wkey(kb, r.ts, int64(pc.t.curOffset)), vb); err != nil {
				return err
			}
			type entry struct {
				ts int64
				v  V
			}
			var recs []entry
			var derr error
			err = buf.Range(wkey(kb, max(0, r.ts-diff-1)), wkey(kb, r.ts+diff+2), func(key, val []byte) bool {
				_, tss, ok := parseWkey(key, 2)
				if !ok {
					return true
				}
				v, err := src.vs.Deserialize(val)
				if err != nil {
					derr = err
					return false
				}
				recs = append(recs, entry{tss[0], v})
				return true
			})
			if err != nil || derr != nil {
				return cmpErr(err, derr)
			}
			windows := map[int64]int64{max(0, r.ts-diff): r.ts} // left window of this record
			for _, e := range recs {
				if e.ts > r.ts && e.ts <= r.ts+diff {
					windows[max(0, e.ts-diff)] = e.ts // left windows that now contain r
				}
				if e.ts < r.ts && e.ts >= r.ts-diff {
					windows[e.ts+1] = e.ts + 1 + diff // right windows that now contain r
				}
				if e.ts > r.ts && e.ts <= r.ts+1+diff {
					windows[r.ts+1] = r.ts + 1 + diff // this record's right window
				}
			}
			for _, start := range sortedInt64Keys(windows) {
				end := windows[start]
				if end <= closeTime {
					continue
				}
				var agg VA
				found := false
				for _, e := range recs {
					if e.ts >= start && e.ts <= end {
						agg = fn(k, e.v, agg, found)
						found = true
					}
				}
				if !found {
					continue
				}
				if err := put(start, agg); err != nil {
					return err
				}
				if err := emit(pc, k, start, end, agg, max(r.ts, 0)); err != nil {
					return err
				}
			}
			return nil
		})
	}, stores...)
	return KTable[Windowed[K], VA]{b: b, n: n, ks: wks, vs: vs, store: name, win: &windowInfo{grace: grace}}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func sortedInt64Keys(m map[int64]int64) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// purgeWindows deletes entries whose first timestamp is before limit.
func purgeWindows(s bytesStore, limit int64, nts int) error {
	var old [][]byte
	if err := s.Range(nil, nil, func(k, _ []byte) bool {
		if _, ts, ok := parseWkey(k, nts); ok && ts[0] < limit {
			old = append(old, append([]byte(nil), k...))
		}
		return true
	}); err != nil {
		return err
	}
	for _, k := range old {
		if err := s.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// SessionWindowedStream is a grouped stream windowed by sessions.
type SessionWindowedStream[K, V any] struct {
	g KGroupedStream[K, V]
	w SessionWindows
}

// WindowedBySession windows the grouped stream by sessions.
func WindowedBySession[K, V any](g KGroupedStream[K, V], w SessionWindows) SessionWindowedStream[K, V] {
	if w.InactivityGap <= 0 {
		g.s.b.errorf("streams: invalid session inactivity gap %v", w.InactivityGap)
	}
	return SessionWindowedStream[K, V]{g: g, w: w}
}

// Count counts records per session.
func (s SessionWindowedStream[K, V]) Count(options ...Opt) KTable[Windowed[K], int64] {
	return SessionAggregate(s, func() int64 { return 0 }, func(_ K, _ V, a int64) int64 { return a + 1 },
		func(_ K, a, b int64) int64 { return a + b }, append([]Opt{ValueSerde(Int64())}, options...)...)
}

// SessionAggregate folds each key's values per session; merge combines
// the aggregates of sessions joined by a new record. When sessions merge,
// a tombstone is emitted for each replaced session.
func SessionAggregate[K, V, VA any](s SessionWindowedStream[K, V], init func() VA, fn func(K, V, VA) VA, merge func(K, VA, VA) VA, options ...Opt) KTable[Windowed[K], VA] {
	o := collect(options)
	b := s.g.s.b
	vs := valSerdeOr[VA](b, o, nil)
	name := b.storeName(o, "KSTREAM-SESSION-AGGREGATE")
	src := s.g.source(name)
	ks := src.ks
	gap, grace := msOf(s.w.InactivityGap), msOf(s.w.Grace)
	retention := retentionOf(o, s.w.InactivityGap+s.w.Grace).Milliseconds()
	b.addStore(&storeDef{name: name, kind: sessionStoreKind, persistent: o.persistent, logged: !o.noLogging,
		retention: time.Duration(retention) * time.Millisecond, keySerde: ks, valSerde: vs})
	windowed := func(k K, start, end int64) Windowed[K] {
		return Windowed[K]{Key: k, Window: Window{Start: time.UnixMilli(start), End: time.UnixMilli(end)}}
	}
	n := b.addNode("KSTREAM-SESSION-AGGREGATE", []*node{src.n}, func() proc {
		var lastPurge int64 = math.MinInt64
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil
			}
			st := pc.store(name)
			k := as[K](r.key)
			kb, err := ks.Serialize(k)
			if err != nil {
				return err
			}
			if pc.t.streamTime-lastPurge > max(retention/4, 1000) {
				lastPurge = pc.t.streamTime
				if err := purgeWindows(st, pc.t.streamTime-retention, 2); err != nil {
					return err
				}
			}
			// Sessions are stored as key|end|start; find those ending at or
			// after ts-gap and starting at or before ts+gap.
			type session struct {
				key        []byte
				start, end int64
				agg        VA
			}
			var overlap []session
			var derr error
			err = st.Range(wkey(kb, max(0, r.ts-gap)), prefixEnd(wprefix(kb)), func(key, val []byte) bool {
				_, ts, ok := parseWkey(key, 2)
				if !ok || ts[1] > r.ts+gap {
					return true
				}
				a, err := vs.Deserialize(val)
				if err != nil {
					derr = err
					return false
				}
				overlap = append(overlap, session{append([]byte(nil), key...), ts[1], ts[0], a})
				return true
			})
			if err != nil || derr != nil {
				return cmpErr(err, derr)
			}
			start, end := r.ts, r.ts
			agg := init()
			for _, s := range overlap {
				start, end = min(start, s.start), max(end, s.end)
				agg = merge(k, agg, s.agg)
			}
			if end < pc.t.streamTime-grace {
				pc.t.dropped++
				return nil
			}
			agg = fn(k, as[V](r.value), agg)
			for _, s := range overlap {
				if err := st.Put(s.key, nil); err != nil {
					return err
				}
				if s.start == start && s.end == end {
					continue
				}
				if err := pc.forward(rec{key: windowed(k, s.start, s.end), value: nil, ts: r.ts}); err != nil {
					return err
				}
			}
			vb, err := vs.Serialize(agg)
			if err != nil {
				return err
			}
			if err := st.Put(wkey(kb, end, start), vb); err != nil {
				return err
			}
			return pc.forward(rec{key: windowed(k, start, end), value: agg, ts: r.ts})
		})
	}, name)
	return KTable[Windowed[K], VA]{b: b, n: n, ks: WindowedSerde(ks), vs: vs, store: name, win: &windowInfo{grace: gap + grace}}
}

// SuppressUntilWindowCloses holds back a windowed table's updates and
// emits only the final result of each window, once stream time passes
// the window's end plus its grace period (Kafka's
// suppress(untilWindowCloses)). The buffer is a logged store, so pending
// results survive task moves.
func SuppressUntilWindowCloses[K, V any](t KTable[Windowed[K], V], options ...Opt) KTable[Windowed[K], V] {
	b := t.b
	if t.win == nil {
		b.errorf("streams: SuppressUntilWindowCloses on a table that is not windowed")
		return t
	}
	o := collect(options)
	name := b.storeName(o, "KTABLE-SUPPRESS")
	grace := t.win.grace
	b.addStore(&storeDef{name: name, kind: kvStore, persistent: o.persistent, logged: !o.noLogging, keySerde: Bytes(), valSerde: Bytes()})
	n := b.addNode("KTABLE-SUPPRESS", []*node{t.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			st := pc.store(name)
			w := as[Windowed[K]](r.key)
			kb, err := t.ks.Serialize(w)
			if err != nil {
				return err
			}
			// Buffer key: window end (8 bytes) | windowed key, so eviction
			// scans in end order. Value: timestamp (8) | value.
			bk := binary.BigEndian.AppendUint64(nil, uint64(w.Window.End.UnixMilli()))
			bk = append(bk, kb...)
			if r.value == nil {
				if err := st.Put(bk, nil); err != nil {
					return err
				}
			} else {
				vb, err := t.vs.Serialize(as[V](r.value))
				if err != nil {
					return err
				}
				if err := st.Put(bk, append(binary.BigEndian.AppendUint64(nil, uint64(r.ts)), vb...)); err != nil {
					return err
				}
			}
			limit := pc.t.streamTime - grace // windows with end <= limit are closed
			if limit < 0 {
				return nil
			}
			type ev struct{ k, v []byte }
			var due []ev
			if err := st.Range(nil, binary.BigEndian.AppendUint64(nil, uint64(limit+1)), func(k, v []byte) bool {
				due = append(due, ev{append([]byte(nil), k...), append([]byte(nil), v...)})
				return true
			}); err != nil {
				return err
			}
			for _, e := range due {
				if err := st.Put(e.k, nil); err != nil {
					return err
				}
				if len(e.k) < 8 || len(e.v) < 8 {
					return fmt.Errorf("suppress buffer: malformed entry")
				}
				wk, err := t.ks.Deserialize(e.k[8:])
				if err != nil {
					return err
				}
				v, err := t.vs.Deserialize(e.v[8:])
				if err != nil {
					return err
				}
				if err := pc.forward(rec{key: wk, value: v, ts: int64(binary.BigEndian.Uint64(e.v))}); err != nil {
					return err
				}
			}
			return nil
		})
	}, name)
	return KTable[Windowed[K], V]{b: b, n: n, ks: t.ks, vs: t.vs, win: t.win}
}
