package main

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFormatRecord(t *testing.T) {
	r := &kgo.Record{
		Topic:     "orders",
		Partition: 3,
		Offset:    42,
		Key:       []byte("k1"),
		Value:     []byte("hello"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("")}},
	}
	f := func(tmpl, want string) {
		t.Helper()
		ft, err := parseFormat(tmpl)
		if err != nil {
			t.Fatalf("parseFormat(%q): %v", tmpl, err)
		}
		if got := string(ft.append(nil, r)); got != want {
			t.Errorf("format %q = %q, want %q", tmpl, got, want)
		}
	}
	f(`%v\n`, "hello\n")
	f(`%s`, "hello")
	f(`%k=%v`, "k1=hello")
	f(`%K %S %V`, "2 5 5")
	f(`%n/%p@%o`, "orders/3@42")
	f(`%t %T`, "1700000000123 1700000000123")
	f(`[%h]`, "[a=1,b=]")
	f(`100%%\t\\`, "100%\t\\")
	f(`plain`, "plain")
	f(`\x`, `\x`)
	f(``, "")
}

func TestFormatNullKeyAndNoHeaders(t *testing.T) {
	ft, err := parseFormat(`[%k][%h][%K]`)
	if err != nil {
		t.Fatal(err)
	}
	got := string(ft.append(nil, &kgo.Record{Value: []byte("v")}))
	if want := "[][][0]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseFormatErrors(t *testing.T) {
	f := func(tmpl string) {
		t.Helper()
		if _, err := parseFormat(tmpl); err == nil {
			t.Errorf("parseFormat(%q) succeeded, want an error", tmpl)
		}
	}
	f(`%`)
	f(`%x`)
	f(`abc %q`)
}

func TestStartOffset(t *testing.T) {
	f := func(beginning, end, haveOffset bool, offset int64, ts string, want kgo.Offset, wantErr bool) {
		t.Helper()
		got, err := startOffset(beginning, end, haveOffset, offset, ts)
		if (err != nil) != wantErr {
			t.Fatalf("startOffset(%t,%t,%t,%d,%q) error = %v, want error %t", beginning, end, haveOffset, offset, ts, err, wantErr)
		}
		if err == nil && got.String() != want.String() {
			t.Errorf("startOffset(%t,%t,%t,%d,%q) = %v, want %v", beginning, end, haveOffset, offset, ts, got, want)
		}
	}
	f(false, false, false, 0, "", kgo.NewOffset().AtEnd(), false)
	f(true, false, false, 0, "", kgo.NewOffset().AtStart(), false)
	f(false, true, false, 0, "", kgo.NewOffset().AtEnd(), false)
	f(false, false, true, 7, "", kgo.NewOffset().At(7), false)
	f(false, false, true, 0, "", kgo.NewOffset().At(0), false)
	f(false, false, true, -5, "", kgo.NewOffset().AtEnd().Relative(-5), false)
	f(false, false, false, 0, "1700000000000", kgo.NewOffset().AfterMilli(1700000000000), false)
	f(false, false, false, 0, "2023-11-14T22:13:20Z", kgo.NewOffset().AfterMilli(1700000000000), false)
	f(false, false, false, 0, "yesterday", kgo.Offset{}, true)
	f(true, true, false, 0, "", kgo.Offset{}, true)
	f(true, false, true, 3, "", kgo.Offset{}, true)
}
