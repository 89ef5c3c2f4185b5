package streams

import "errors"

// ReadOnlyKeyValueStore reads a key-value store. Range and All visit keys
// in the byte order of their serialized form.
type ReadOnlyKeyValueStore[K, V any] interface {
	Get(k K) (v V, found bool, err error)
	// Range visits keys in [from, to] until fn returns false.
	Range(from, to K, fn func(K, V) bool) error
	All(fn func(K, V) bool) error
}

// KeyValueStore is a read-write key-value store, as seen by processors.
// Writes are logged to the store's changelog topic.
type KeyValueStore[K, V any] interface {
	ReadOnlyKeyValueStore[K, V]
	Put(k K, v V) error
	Delete(k K) error
}

type typedKV[K, V any] struct {
	s  bytesStore
	ks Serde[K]
	vs Serde[V]
}

var errNoStore = errors.New("streams: store not available")

func (t typedKV[K, V]) Get(k K) (V, bool, error) {
	var zero V
	if t.s == nil {
		return zero, false, errNoStore
	}
	kb, err := t.ks.Serialize(k)
	if err != nil {
		return zero, false, err
	}
	vb, err := t.s.Get(kb)
	if err != nil || vb == nil {
		return zero, false, err
	}
	v, err := t.vs.Deserialize(vb)
	return v, err == nil, err
}

func (t typedKV[K, V]) Put(k K, v V) error {
	kb, err := t.ks.Serialize(k)
	if err != nil {
		return err
	}
	vb, err := t.vs.Serialize(v)
	if err != nil {
		return err
	}
	if vb == nil {
		vb = []byte{}
	}
	return t.s.Put(kb, vb)
}

func (t typedKV[K, V]) Delete(k K) error {
	kb, err := t.ks.Serialize(k)
	if err != nil {
		return err
	}
	return t.s.Put(kb, nil)
}

func (t typedKV[K, V]) Range(from, to K, fn func(K, V) bool) error {
	fb, err := t.ks.Serialize(from)
	if err != nil {
		return err
	}
	tb, err := t.ks.Serialize(to)
	if err != nil {
		return err
	}
	return t.scan(fb, append(tb, 0), fn)
}

func (t typedKV[K, V]) All(fn func(K, V) bool) error { return t.scan(nil, nil, fn) }

func (t typedKV[K, V]) scan(from, to []byte, fn func(K, V) bool) error {
	if t.s == nil {
		return errNoStore
	}
	var derr error
	err := t.s.Range(from, to, func(kb, vb []byte) bool {
		k, err := t.ks.Deserialize(kb)
		if err != nil {
			derr = err
			return false
		}
		v, err := t.vs.Deserialize(vb)
		if err != nil {
			derr = err
			return false
		}
		return fn(k, v)
	})
	if err != nil {
		return err
	}
	return derr
}
