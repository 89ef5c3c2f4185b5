package connect

import (
	"testing"
	"time"
)

func TestConfigMillis(t *testing.T) {
	def := ConfigDef{
		{Name: "poll.interval.ms", Type: TypeInt, Default: "500"},
		{Name: "retry.backoff.ms", Type: TypeInt, Default: "3000"},
	}
	c, err := NewConfig(def, map[string]string{"retry.backoff.ms": " 250 "})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, want time.Duration) {
		t.Helper()
		if got := c.Millis(name); got != want {
			t.Errorf("Millis(%q) = %v, want %v", name, got, want)
		}
	}
	f("poll.interval.ms", 500*time.Millisecond) // the default
	f("retry.backoff.ms", 250*time.Millisecond) // set, trimmed
	f("unknown.ms", 0)
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}
