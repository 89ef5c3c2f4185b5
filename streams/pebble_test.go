package streams

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStoresAgree runs the same operations on the memory and pebble
// stores and compares gets and ranges.
func TestStoresAgree(t *testing.T) {
	p, err := openPebble(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stores := map[string]bytesStore{"mem": newMemStore(), "pebble": p}
	for name, s := range stores {
		for i := 0; i < 500; i++ {
			k := []byte(fmt.Sprintf("k%03d", (i*37)%200))
			var v []byte
			if i%7 != 0 {
				v = []byte(fmt.Sprint(i))
			}
			if err := s.Put(k, v); err != nil {
				t.Fatalf("%s: Put: %v", name, err)
			}
		}
	}
	dump := func(s bytesStore, from, to []byte) []string {
		var out []string
		if err := s.Range(from, to, func(k, v []byte) bool { out = append(out, string(k)+"="+string(v)); return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, r := range [][2][]byte{{nil, nil}, {[]byte("k050"), []byte("k100")}, {[]byte("k1"), prefixEnd([]byte("k1"))}} {
		m, pb := dump(stores["mem"], r[0], r[1]), dump(stores["pebble"], r[0], r[1])
		if diff := cmp.Diff(m, pb); diff != "" {
			t.Errorf("Range(%q, %q) mem vs pebble (-mem +pebble):\n%s", r[0], r[1], diff)
		}
		if len(m) == 0 {
			t.Errorf("Range(%q, %q) is empty", r[0], r[1])
		}
	}
	for i := 0; i < 200; i++ {
		k := []byte(fmt.Sprintf("k%03d", i))
		a, _ := stores["mem"].Get(k)
		b, _ := stores["pebble"].Get(k)
		if string(a) != string(b) {
			t.Errorf("Get(%s): mem %q, pebble %q", k, a, b)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestWindowKeyCodec(t *testing.T) {
	k := wkey([]byte("user"), 42, 7)
	kb, ts, ok := parseWkey(k, 2)
	if !ok || string(kb) != "user" || ts[0] != 42 || ts[1] != 7 {
		t.Errorf("parseWkey(wkey(user, 42, 7)) = %q, %v, %v", kb, ts, ok)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 9}, append(wkey([]byte("x"), 1), 0)} {
		if _, _, ok := parseWkey(bad, 1); ok {
			t.Errorf("parseWkey(%x) accepted malformed input", bad)
		}
	}
}

func FuzzParseWindowKey(f *testing.F) {
	f.Add(wkey([]byte("k"), 1, 2), 2)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 3 {
			return
		}
		parseWkey(b, n) // must not panic
	})
}
