package streams

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"
)

// JoinWindows bound a stream–stream join: a left record at time t joins
// right records in [t-Before, t+After]. Records arriving after the window
// plus Grace has passed (in stream time) are dropped.
type JoinWindows struct {
	Before, After time.Duration
	Grace         time.Duration
}

// JoinTimeDifference returns symmetric join windows of ±d.
func JoinTimeDifference(d, grace time.Duration) JoinWindows {
	return JoinWindows{Before: d, After: d, Grace: grace}
}

type joinMode int

const (
	innerJoin joinMode = iota
	leftJoin
	outerJoin
)

// copartitioned returns s, repartitioned if its key may have changed.
func copartitioned[K, V any](s KStream[K, V], name string) KStream[K, V] {
	if !s.keyChanged {
		return s
	}
	return repartition(s.b, s.n, name+"-repartition", s.ks, s.vs, 0)
}

// JoinStreams is a windowed inner join of two streams with the same key.
func JoinStreams[K, V1, V2, VR any](l KStream[K, V1], r KStream[K, V2], joiner func(K, V1, V2) VR, w JoinWindows, options ...Opt) KStream[K, VR] {
	return streamJoin(l, r, innerJoin, func(k K, a *V1, b *V2) VR { return joiner(k, *a, *b) }, w, options)
}

// LeftJoinStreams is a windowed left join: a left record with no match in
// its window is emitted with a nil right value once the window closes
// (Kafka 3.1+ semantics, no spurious early results).
func LeftJoinStreams[K, V1, V2, VR any](l KStream[K, V1], r KStream[K, V2], joiner func(K, V1, *V2) VR, w JoinWindows, options ...Opt) KStream[K, VR] {
	return streamJoin(l, r, leftJoin, func(k K, a *V1, b *V2) VR { return joiner(k, *a, b) }, w, options)
}

// OuterJoinStreams is a windowed outer join; unmatched records of either
// side are emitted, with nil for the other side, once their window closes.
func OuterJoinStreams[K, V1, V2, VR any](l KStream[K, V1], r KStream[K, V2], joiner func(K, *V1, *V2) VR, w JoinWindows, options ...Opt) KStream[K, VR] {
	return streamJoin(l, r, outerJoin, joiner, w, options)
}

func streamJoin[K, V1, V2, VR any](l KStream[K, V1], r KStream[K, V2], mode joinMode, joiner func(K, *V1, *V2) VR, w JoinWindows, options []Opt) KStream[K, VR] {
	b := l.b
	o := collect(options)
	name := b.storeName(o, "KSTREAM-JOIN")
	l = copartitioned(l, name+"-left")
	r = copartitioned(r, name+"-right")
	ks := l.ks
	before, after, grace := msOf(w.Before), msOf(w.After), msOf(w.Grace)
	ret := time.Duration(before+after+grace) * time.Millisecond
	lbuf, rbuf, unm := name+"-this-store", name+"-other-store", name+"-outer-store"
	b.addStore(&storeDef{name: lbuf, kind: windowStoreKind, persistent: o.persistent, logged: !o.noLogging, retention: ret, keySerde: ks, valSerde: l.vs})
	b.addStore(&storeDef{name: rbuf, kind: windowStoreKind, persistent: o.persistent, logged: !o.noLogging, retention: ret, keySerde: ks, valSerde: r.vs})
	b.addStore(&storeDef{name: unm, kind: kvStore, persistent: o.persistent, logged: !o.noLogging, keySerde: Bytes(), valSerde: Bytes()})
	de1, de2 := erase(l.vs), erase(r.vs)
	// unmatched key: ts (8) | side (1) | buffer key. Value: the buffer key's value.
	unKey := func(ts int64, side byte, bk []byte) []byte {
		return append(append(binary.BigEndian.AppendUint64(nil, uint64(ts)), side), bk...)
	}
	emitClosed := func(pc *pctx) error {
		if mode == innerJoin {
			return nil
		}
		st := pc.store(unm)
		limit := pc.t.streamTime - grace - max(before, after)
		if limit <= 0 {
			return nil
		}
		type e struct{ k, v []byte }
		var due []e
		if err := st.Range(nil, binary.BigEndian.AppendUint64(nil, uint64(limit)), func(k, v []byte) bool {
			due = append(due, e{append([]byte(nil), k...), append([]byte(nil), v...)})
			return true
		}); err != nil {
			return err
		}
		for _, x := range due {
			if err := st.Put(x.k, nil); err != nil {
				return err
			}
			kb, ts, ok := parseWkey(x.k[9:], 2)
			if !ok {
				continue
			}
			k, err := ks.Deserialize(kb)
			if err != nil {
				return err
			}
			var res VR
			if x.k[8] == 'L' {
				v, err := de1.de(x.v)
				if err != nil {
					return err
				}
				lv := as[V1](v)
				res = joiner(k, &lv, nil)
			} else {
				v, err := de2.de(x.v)
				if err != nil {
					return err
				}
				rv := as[V2](v)
				res = joiner(k, nil, &rv)
			}
			if err := pc.forward(rec{key: k, value: res, ts: ts[0]}); err != nil {
				return err
			}
		}
		return nil
	}
	side := func(isLeft bool) func() proc {
		return func() proc {
			var lastPurge int64 = math.MinInt64
			return procFunc(func(pc *pctx, rc rec) error {
				if rc.key == nil {
					return nil
				}
				k := as[K](rc.key)
				kb, err := ks.Serialize(k)
				if err != nil {
					return err
				}
				if rc.ts+max(before, after)+grace < pc.t.streamTime {
					pc.t.dropped++
					return nil
				}
				if pc.t.streamTime-lastPurge > max(msOf(ret)/2, 1000) {
					lastPurge = pc.t.streamTime
					for _, s := range []string{lbuf, rbuf} {
						if err := purgeWindows(pc.store(s), pc.t.streamTime-msOf(ret)-1, 2); err != nil {
							return err
						}
					}
				}
				mine, other, lo, hi := lbuf, rbuf, rc.ts-before, rc.ts+after
				var vb []byte
				if isLeft {
					vb, err = erase(l.vs).ser(rc.value)
				} else {
					mine, other, lo, hi = rbuf, lbuf, rc.ts-after, rc.ts+before
					vb, err = erase(r.vs).ser(rc.value)
				}
				if err != nil {
					return err
				}
				if vb == nil {
					vb = []byte{}
				}
				bk := wkey(kb, rc.ts, pc.t.curOffset)
				if err := pc.store(mine).Put(bk, vb); err != nil {
					return err
				}
				type match struct {
					key []byte
					ts  int64
					v   []byte
				}
				var ms []match
				if err := pc.store(other).Range(wkey(kb, max(lo, 0)), wkey(kb, hi+1), func(key, val []byte) bool {
					_, ts, ok := parseWkey(key, 2)
					if ok {
						ms = append(ms, match{append([]byte(nil), key...), ts[0], append([]byte(nil), val...)})
					}
					return true
				}); err != nil {
					return err
				}
				for _, m := range ms {
					ov := m.v
					var res VR
					if isLeft {
						x, err := de2.de(ov)
						if err != nil {
							return err
						}
						lv, rv := as[V1](rc.value), as[V2](x)
						res = joiner(k, &lv, &rv)
						if mode == outerJoin {
							if err := pc.store(unm).Put(unKey(m.ts, 'R', m.key), nil); err != nil {
								return err
							}
						}
					} else {
						x, err := de1.de(ov)
						if err != nil {
							return err
						}
						lv, rv := as[V1](x), as[V2](rc.value)
						res = joiner(k, &lv, &rv)
						if mode != innerJoin {
							if err := pc.store(unm).Put(unKey(m.ts, 'L', m.key), nil); err != nil {
								return err
							}
						}
					}
					if err := pc.forward(rec{key: k, value: res, ts: max(rc.ts, m.ts)}); err != nil {
						return err
					}
				}
				if len(ms) == 0 && (mode == outerJoin || (mode == leftJoin && isLeft)) {
					s := byte('R')
					if isLeft {
						s = 'L'
					}
					if err := pc.store(unm).Put(unKey(rc.ts, s, bk), vb); err != nil {
						return err
					}
				}
				return emitClosed(pc)
			})
		}
	}
	ln := b.addNode("KSTREAM-JOINTHIS", []*node{l.n}, side(true), lbuf, rbuf, unm)
	rn := b.addNode("KSTREAM-JOINOTHER", []*node{r.n}, side(false), lbuf, rbuf, unm)
	m := b.addNode("KSTREAM-MERGE", []*node{ln, rn}, func() proc { return procFunc(forwardAll) })
	return KStream[K, VR]{b: b, n: m, ks: ks, vs: valSerdeOr[VR](b, o, nil)}
}

// JoinStreamTable joins each stream record with the table's current value
// for its key; records without a match are dropped.
func JoinStreamTable[K, V, VT, VR any](s KStream[K, V], t KTable[K, VT], joiner func(K, V, VT) VR, options ...Opt) KStream[K, VR] {
	return streamTable(s, t, false, func(k K, v V, vt *VT) VR { return joiner(k, v, *vt) }, options)
}

// LeftJoinStreamTable joins like JoinStreamTable but keeps unmatched
// records, with a nil table value.
func LeftJoinStreamTable[K, V, VT, VR any](s KStream[K, V], t KTable[K, VT], joiner func(K, V, *VT) VR, options ...Opt) KStream[K, VR] {
	return streamTable(s, t, true, joiner, options)
}

func streamTable[K, V, VT, VR any](s KStream[K, V], t KTable[K, VT], left bool, joiner func(K, V, *VT) VR, options []Opt) KStream[K, VR] {
	o := collect(options)
	b := s.b
	s = copartitioned(s, t.store+"-join")
	n := b.addNode("KSTREAM-JOIN-TABLE", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			if r.key == nil {
				return nil
			}
			k := as[K](r.key)
			vt, found, err := typedKV[K, VT]{s: pc.store(t.store), ks: t.ks, vs: t.vs}.Get(k)
			if err != nil {
				return err
			}
			if !found {
				if !left {
					return nil
				}
				r.value = joiner(k, as[V](r.value), nil)
			} else {
				r.value = joiner(k, as[V](r.value), &vt)
			}
			return pc.forward(r)
		})
	}, t.store)
	return KStream[K, VR]{b: b, n: n, ks: s.ks, vs: valSerdeOr[VR](b, o, nil)}
}

// JoinGlobal joins each stream record with the global table's value for
// the key computed by keyFn; unmatched records are dropped.
func JoinGlobal[K, V, GK, GV, VR any](s KStream[K, V], g GlobalKTable[GK, GV], keyFn func(K, V) GK, joiner func(K, V, GV) VR, options ...Opt) KStream[K, VR] {
	return globalJoin(s, g, keyFn, false, func(k K, v V, gv *GV) VR { return joiner(k, v, *gv) }, options)
}

// LeftJoinGlobal keeps unmatched records, with a nil global value.
func LeftJoinGlobal[K, V, GK, GV, VR any](s KStream[K, V], g GlobalKTable[GK, GV], keyFn func(K, V) GK, joiner func(K, V, *GV) VR, options ...Opt) KStream[K, VR] {
	return globalJoin(s, g, keyFn, true, joiner, options)
}

func globalJoin[K, V, GK, GV, VR any](s KStream[K, V], g GlobalKTable[GK, GV], keyFn func(K, V) GK, left bool, joiner func(K, V, *GV) VR, options []Opt) KStream[K, VR] {
	o := collect(options)
	n := s.b.addNode("KSTREAM-JOIN-GLOBAL", []*node{s.n}, func() proc {
		return procFunc(func(pc *pctx, r rec) error {
			k, v := as[K](r.key), as[V](r.value)
			gv, found, err := typedKV[GK, GV]{s: pc.store(g.store), ks: g.ks, vs: g.vs}.Get(keyFn(k, v))
			if err != nil {
				return err
			}
			if !found {
				if !left {
					return nil
				}
				r.value = joiner(k, v, nil)
			} else {
				r.value = joiner(k, v, &gv)
			}
			return pc.forward(r)
		})
	}, g.store)
	return KStream[K, VR]{b: s.b, n: n, ks: s.ks, vs: valSerdeOr[VR](s.b, o, nil), keyChanged: s.keyChanged}
}

// JoinTables is an inner table–table join: a row exists while both sides
// have the key.
func JoinTables[K, V1, V2, VR any](l KTable[K, V1], r KTable[K, V2], joiner func(K, V1, V2) VR, options ...Opt) KTable[K, VR] {
	return tableJoin(l, r, innerJoin, func(k K, a *V1, b *V2) VR { return joiner(k, *a, *b) }, options)
}

// LeftJoinTables keeps every left row, with a nil right value when absent.
func LeftJoinTables[K, V1, V2, VR any](l KTable[K, V1], r KTable[K, V2], joiner func(K, V1, *V2) VR, options ...Opt) KTable[K, VR] {
	return tableJoin(l, r, leftJoin, func(k K, a *V1, b *V2) VR { return joiner(k, *a, b) }, options)
}

// OuterJoinTables keeps a row while either side has the key.
func OuterJoinTables[K, V1, V2, VR any](l KTable[K, V1], r KTable[K, V2], joiner func(K, *V1, *V2) VR, options ...Opt) KTable[K, VR] {
	return tableJoin(l, r, outerJoin, joiner, options)
}

func tableJoin[K, V1, V2, VR any](l KTable[K, V1], r KTable[K, V2], mode joinMode, joiner func(K, *V1, *V2) VR, options []Opt) KTable[K, VR] {
	b := l.b
	o := collect(options)
	if l.store == "" || r.store == "" || l.win != nil || r.win != nil {
		b.errorf("streams: table joins need materialized, non-windowed tables")
	}
	side := func(isLeft bool) func() proc {
		return func() proc {
			return procFunc(func(pc *pctx, rc rec) error {
				if rc.key == nil {
					return nil
				}
				k := as[K](rc.key)
				var lv *V1
				var rv *V2
				if isLeft {
					if rc.value != nil {
						x := as[V1](rc.value)
						lv = &x
					}
					x, found, err := typedKV[K, V2]{s: pc.store(r.store), ks: r.ks, vs: r.vs}.Get(k)
					if err != nil {
						return err
					}
					if found {
						rv = &x
					}
				} else {
					if rc.value != nil {
						x := as[V2](rc.value)
						rv = &x
					}
					x, found, err := typedKV[K, V1]{s: pc.store(l.store), ks: l.ks, vs: l.vs}.Get(k)
					if err != nil {
						return err
					}
					if found {
						lv = &x
					}
				}
				ok := lv != nil && rv != nil
				if mode == leftJoin {
					ok = lv != nil
				} else if mode == outerJoin {
					ok = lv != nil || rv != nil
				}
				out := rec{key: k, ts: rc.ts}
				if ok {
					out.value = joiner(k, lv, rv)
				}
				return pc.forward(out)
			})
		}
	}
	ln := b.addNode("KTABLE-JOINTHIS", []*node{l.n}, side(true), r.store)
	rn := b.addNode("KTABLE-JOINOTHER", []*node{r.n}, side(false), l.store)
	m := b.addNode("KTABLE-MERGE", []*node{ln, rn}, func() proc { return procFunc(forwardAll) })
	return materialize(b, m, b.storeName(o, "KTABLE-JOIN"), l.ks, valSerdeOr[VR](b, o, nil), o, "KTABLE-JOIN")
}

// JoinForeignKey joins each left row with the right row whose key fk
// extracts from the left value (KIP-213). The two tables need not be
// co-partitioned: subscriptions travel through an internal topic keyed by
// the foreign key and responses through one keyed by the left key. A
// response is used only if the left value still hashes as it did when
// the subscription was sent, so out-of-order responses cannot produce
// stale results.
func JoinForeignKey[K, V, KO, VO, VR any](l KTable[K, V], r KTable[KO, VO], fk func(V) KO, joiner func(K, V, VO) VR, options ...Opt) KTable[K, VR] {
	return fkJoin(l, r, fk, false, func(k K, v V, vo *VO) VR { return joiner(k, v, *vo) }, options)
}

// LeftJoinForeignKey keeps every left row, with a nil right value when the
// foreign key has no right row.
func LeftJoinForeignKey[K, V, KO, VO, VR any](l KTable[K, V], r KTable[KO, VO], fk func(V) KO, joiner func(K, V, *VO) VR, options ...Opt) KTable[K, VR] {
	return fkJoin(l, r, fk, true, joiner, options)
}

func valueHash(b []byte) []byte {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum(nil)
}

func fkJoin[K, V, KO, VO, VR any](l KTable[K, V], r KTable[KO, VO], fk func(V) KO, left bool, joiner func(K, V, *VO) VR, options []Opt) KTable[K, VR] {
	b := l.b
	o := collect(options)
	if l.store == "" || r.store == "" {
		b.errorf("streams: foreign-key joins need materialized tables")
	}
	name := b.storeName(o, "KTABLE-FK-JOIN")
	subTopic := topicRef{name: name + "-subscription-registration-topic", internal: true}
	respTopic := topicRef{name: name + "-subscription-response-topic", internal: true}
	fkStore, subStore := name+"-fk", name+"-subscription-store"
	b.addStore(&storeDef{name: fkStore, kind: kvStore, persistent: o.persistent, logged: !o.noLogging, keySerde: Bytes(), valSerde: Bytes()})
	b.addStore(&storeDef{name: subStore, kind: kvStore, persistent: o.persistent, logged: !o.noLogging, keySerde: Bytes(), valSerde: Bytes()})
	raw := erase(Bytes())
	// Left side: on each left update, (un)subscribe with the right side.
	leftN := b.addNode("KTABLE-FK-JOIN-SUBSCRIBE", []*node{l.n}, func() proc {
		return procFunc(func(pc *pctx, rc rec) error {
			if rc.key == nil {
				return nil
			}
			app := pc.t.env.appID()
			kb, err := l.ks.Serialize(as[K](rc.key))
			if err != nil {
				return err
			}
			fks := pc.store(fkStore)
			oldFK, err := fks.Get(kb)
			if err != nil {
				return err
			}
			var newFK, vb []byte
			if rc.value != nil {
				if newFK, err = r.ks.Serialize(fk(as[V](rc.value))); err != nil {
					return err
				}
				if vb, err = l.vs.Serialize(as[V](rc.value)); err != nil {
					return err
				}
			}
			sub := func(instr byte, fkb []byte, hash []byte) error {
				v := append(append([]byte{instr}, hash...), kb...)
				return pc.t.env.send(subTopic.resolve(app), -1, fkb, v, rc.ts, nil)
			}
			if oldFK != nil && (newFK == nil || string(oldFK) != string(newFK)) {
				if err := sub('U', oldFK, make([]byte, 8)); err != nil {
					return err
				}
			}
			if rc.value == nil {
				if err := fks.Put(kb, nil); err != nil {
					return err
				}
				return pc.forward(rec{key: rc.key, ts: rc.ts}) // the left row is gone
			}
			if err := fks.Put(kb, newFK); err != nil {
				return err
			}
			return sub('S', newFK, valueHash(vb))
		})
	}, fkStore)
	// Right side: keep subscriptions, answer them and every right update.
	respond := func(pc *pctx, kb, hash []byte, vo []byte, ts int64) error {
		v := append([]byte(nil), hash...)
		if vo == nil {
			v = append(v, 0)
		} else {
			v = append(append(v, 1), vo...)
		}
		return pc.t.env.send(respTopic.resolve(pc.t.env.appID()), -1, kb, v, ts, nil)
	}
	subSrc := b.addSource("KTABLE-FK-JOIN-SUBSCRIPTION-SOURCE", []topicRef{subTopic}, raw, raw, nil)
	b.addNode("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR", []*node{subSrc}, func() proc {
		return procFunc(func(pc *pctx, rc rec) error {
			fkb, v := as[[]byte](rc.key), as[[]byte](rc.value)
			if len(v) < 9 {
				return nil
			}
			instr, hash, kb := v[0], v[1:9], v[9:]
			skey := append(wprefix(fkb), kb...)
			if instr == 'U' {
				return pc.store(subStore).Put(skey, nil)
			}
			if err := pc.store(subStore).Put(skey, hash); err != nil {
				return err
			}
			vo, err := pc.store(r.store).Get(fkb)
			if err != nil {
				return err
			}
			return respond(pc, kb, hash, vo, rc.ts)
		})
	}, subStore, r.store)
	b.addNode("KTABLE-FK-JOIN-RIGHT-UPDATE", []*node{r.n}, func() proc {
		return procFunc(func(pc *pctx, rc rec) error {
			if rc.key == nil {
				return nil
			}
			fkb, err := r.ks.Serialize(as[KO](rc.key))
			if err != nil {
				return err
			}
			var vo []byte
			if rc.value != nil {
				if vo, err = r.vs.Serialize(as[VO](rc.value)); err != nil {
					return err
				}
			}
			p := wprefix(fkb)
			type sub struct{ kb, hash []byte }
			var subs []sub
			if err := pc.store(subStore).Range(p, prefixEnd(p), func(k, v []byte) bool {
				subs = append(subs, sub{append([]byte(nil), k[len(p):]...), append([]byte(nil), v...)})
				return true
			}); err != nil {
				return err
			}
			for _, s := range subs {
				if err := respond(pc, s.kb, s.hash, vo, rc.ts); err != nil {
					return err
				}
			}
			return nil
		})
	}, subStore)
	// Left side again: responses, checked against the current left value.
	respSrc := b.addSource("KTABLE-FK-JOIN-RESPONSE-SOURCE", []topicRef{respTopic}, raw, raw, nil)
	respN := b.addNode("KTABLE-FK-JOIN-RESOLVER", []*node{respSrc}, func() proc {
		return procFunc(func(pc *pctx, rc rec) error {
			kb, v := as[[]byte](rc.key), as[[]byte](rc.value)
			if len(v) < 9 {
				return nil
			}
			vb, err := pc.store(l.store).Get(kb)
			if err != nil || vb == nil || string(valueHash(vb)) != string(v[:8]) {
				return err // the left row changed since: a newer response will come
			}
			k, err := l.ks.Deserialize(kb)
			if err != nil {
				return err
			}
			lv, err := l.vs.Deserialize(vb)
			if err != nil {
				return err
			}
			out := rec{key: k, ts: rc.ts}
			if v[8] == 1 {
				vo, err := r.vs.Deserialize(v[9:])
				if err != nil {
					return err
				}
				out.value = joiner(k, lv, &vo)
			} else if left {
				out.value = joiner(k, lv, nil)
			}
			return pc.forward(out)
		})
	}, l.store)
	m := b.addNode("KTABLE-MERGE", []*node{leftN, respN}, func() proc { return procFunc(forwardAll) })
	return materialize(b, m, name, l.ks, valSerdeOr[VR](b, o, nil), o, "KTABLE-FK-JOIN")
}
