package main

import (
	"testing"
	"time"
)

func TestSplitLine(t *testing.T) {
	f := func(line, sep string, wantKey *string, wantValue string) {
		t.Helper()
		k, v := splitLine([]byte(line), sep)
		if (k == nil) != (wantKey == nil) || (wantKey != nil && string(k) != *wantKey) || string(v) != wantValue {
			t.Errorf("splitLine(%q, %q) = (%q, %q), want (%v, %q)", line, sep, k, v, wantKey, wantValue)
		}
	}
	s := func(x string) *string { return &x }
	f("hello", "", nil, "hello")
	f("k:v", "", nil, "k:v")
	f("k:v", ":", s("k"), "v")
	f("k:v:w", ":", s("k"), "v:w")
	f(":v", ":", s(""), "v")
	f("k:", ":", s("k"), "")
	f("novalue", ":", nil, "novalue")
	f("a::b", "::", s("a"), "b")
}

func TestProducerOpts(t *testing.T) {
	f := func(compression, acks string, wantErr bool) {
		t.Helper()
		_, err := producerOpts(compression, acks, false, time.Second)
		if (err != nil) != wantErr {
			t.Errorf("producerOpts(%q, %q) error = %v, want error %t", compression, acks, err, wantErr)
		}
	}
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, a := range []string{"all", "1", "0", "-1"} {
			f(c, a, false)
		}
	}
	f("brotli", "all", true)
	f("gzip", "2", true)
}
