package clock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFromEnvUnsetIsReal(t *testing.T) {
	t.Setenv(SkewFileEnv, "")
	if c := FromEnv(os.ReadFile); c != Real {
		t.Fatalf("FromEnv(os.ReadFile) = %T, want Real", c)
	}
}

func TestSkewedFollowsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "skew")
	t.Setenv(SkewFileEnv, p)
	c, ok := FromEnv(os.ReadFile).(*Skewed)
	if !ok {
		t.Fatal("FromEnv did not return a Skewed clock")
	}
	near := func(want time.Duration) {
		t.Helper()
		// The file is re-read at most every 100 ms: wait (bounded) for it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := c.Now().Sub(time.Now().Round(0)) // wall difference
			if d := got - want; d > -time.Second && d < time.Second {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("skew %v, want about %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	near(0) // no file yet
	for _, v := range []struct {
		text string
		want time.Duration
	}{{"10m\n", 10 * time.Minute}, {"-3m30s", -210 * time.Second}, {"garbage", -210 * time.Second}, {"", 0}} {
		if err := os.WriteFile(p, []byte(v.text), 0o644); err != nil {
			t.Fatal(err)
		}
		near(v.want)
	}
}

func TestSkewedOneOffset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "skew")
	if err := os.WriteFile(p, []byte("-1h"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewSkewed(p, os.ReadFile)
	a := c.Now()
	if b := c.Now(); b.Sub(a) < 0 || b.Sub(a) > time.Minute {
		t.Fatalf("two readings under one offset %v apart", b.Sub(a))
	}
	if d := time.Until(a); d > -50*time.Minute {
		t.Fatalf("wall time not skewed: %v until %v", d, a)
	}
}
