package main

import "testing"

func TestParseConfigs(t *testing.T) {
	f := func(in []string, want map[string]string, wantErr bool) {
		t.Helper()
		got, err := parseConfigs(in)
		if (err != nil) != wantErr {
			t.Fatalf("parseConfigs(%q) error = %v, want error %t", in, err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("parseConfigs(%q) = %d entries, want %d", in, len(got), len(want))
		}
		for k, v := range want {
			if got[k] == nil || *got[k] != v {
				t.Errorf("parseConfigs(%q)[%q] = %v, want %q", in, k, got[k], v)
			}
		}
	}
	f(nil, nil, false)
	f([]string{"retention.ms=1000"}, map[string]string{"retention.ms": "1000"}, false)
	f([]string{"a=1", "b=x=y", "c="}, map[string]string{"a": "1", "b": "x=y", "c": ""}, false)
	f([]string{"novalue"}, nil, true)
	f([]string{"=v"}, nil, true)
}
