package purgatory

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAwait(t *testing.T) {
	f := func(name string, timeout time.Duration, notifyAfter time.Duration, readyAt int32, want bool, wantElapsed time.Duration) {
		t.Helper()
		synctest.Test(t, func(t *testing.T) {
			p := New[string]()
			var appended atomic.Int32
			if notifyAfter > 0 {
				go func() {
					for range 3 {
						time.Sleep(notifyAfter)
						appended.Add(1)
						p.Notify("t-0")
					}
				}()
			}
			start := time.Now()
			got := p.Await(context.Background(), timeout, []string{"t-0"}, func() bool { return appended.Load() >= readyAt })
			elapsed := time.Since(start)
			if got != want || elapsed != wantElapsed {
				t.Errorf("%s: Await = %v after %v, want %v after %v", name, got, elapsed, want, wantElapsed)
			}
			synctest.Wait()
			if n := p.Watching("t-0"); n != 0 {
				t.Errorf("%s: %d watchers left", name, n)
			}
			time.Sleep(time.Minute) // let the notifier finish inside the bubble
		})
	}
	f("ready at once", time.Second, 0, 0, true, 0)
	f("expires", time.Second, 0, 1, false, time.Second)
	f("woken by first append", time.Second, 100*time.Millisecond, 1, true, 100*time.Millisecond)
	f("needs two appends", time.Second, 100*time.Millisecond, 2, true, 200*time.Millisecond)
	f("appends too late", 150*time.Millisecond, 100*time.Millisecond, 2, false, 150*time.Millisecond)
	f("zero timeout tries once", 0, 0, 1, false, 0)
}

func TestAwaitContextCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New[int]()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		if p.Await(ctx, time.Hour, []int{1}, func() bool { return false }) {
			t.Fatal("Await = true after cancel")
		}
		if time.Since(time.Unix(946684800, 0)) != 10*time.Millisecond {
			// synctest's clock starts at 2000-01-01 UTC.
			t.Errorf("returned after %v, want 10ms", time.Since(time.Unix(946684800, 0)))
		}
	})
}

func TestNotifyOtherKeyDoesNotWake(t *testing.T) {
	p := New[int]()
	w := p.Watch(1, 2)
	defer w.Stop()
	p.Notify(3)
	select {
	case <-w.C():
		t.Fatal("woken by key 3")
	default:
	}
	p.Notify(2)
	p.Notify(1) // coalesces
	<-w.C()
	select {
	case <-w.C():
		t.Fatal("two wake-ups; want one")
	default:
	}
}
