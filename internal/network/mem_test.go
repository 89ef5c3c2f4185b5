package network

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/handler"
)

func TestMemPool(t *testing.T) {
	p := newMemPool(100)
	stop := make(chan struct{})
	f := func(name string, n int64, wantOK bool, wantUsed int64) {
		t.Helper()
		done := make(chan bool, 1)
		go func() { done <- p.acquire(n, stop) }()
		select {
		case ok := <-done:
			if !wantOK {
				t.Fatalf("%s: acquire(%d) returned %v, want it to wait", name, n, ok)
			}
		case <-time.After(50 * time.Millisecond):
			if wantOK {
				t.Fatalf("%s: acquire(%d) waits, want it admitted", name, n)
			}
			close(stop) // the waiter gives up and holds nothing
			if ok := <-done; ok {
				t.Fatalf("%s: acquire after stop returned true", name)
			}
			stop = make(chan struct{})
		}
		if used, waiters := p.stats(); used != wantUsed || waiters != 0 {
			t.Fatalf("%s: used %d waiters %d, want %d and 0", name, used, waiters, wantUsed)
		}
	}
	f("fits", 60, true, 60)
	f("would exceed", 50, false, 60)
	f("fits exactly", 40, true, 100)
	p.release(100)
	f("larger than the limit, alone", 500, true, 500)
	f("anything after it", 1, false, 500)
	p.release(500)
}

// TestMemPoolWakes: a waiting acquire proceeds once enough is released.
func TestMemPoolWakes(t *testing.T) {
	p := newMemPool(10)
	p.acquire(8, nil)
	done := make(chan bool)
	go func() { done <- p.acquire(5, nil) }()
	for { // bounded by the test timeout: the goroutine registers soon
		if _, w := p.stats(); w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.release(8)
	if !<-done {
		t.Fatal("acquire failed")
	}
	if used, _ := p.stats(); used != 5 {
		t.Fatalf("used %d, want 5", used)
	}
}

// TestQueuedBytesMutes: when requests in flight hold the broker-wide
// budget, another connection's request is not read until they are
// answered; then it is served.
func TestQueuedBytesMutes(t *testing.T) {
	h := &slowHandler{inner: handler.New(handler.Deps{}), release: make(chan struct{}), started: make(chan struct{}, 4)}
	s := start(t, h, Config{MaxQueuedBytes: 1000})
	big := func() *kmsg.ApiVersionsRequest {
		r := apiVersionsRequest(3)
		r.ClientSoftwareName = "kavka-test-" + strings.Repeat("x", 600)
		return r
	}
	a, b := dial(t, s.addr), dial(t, s.addr)
	a.Write(appendRequest(nil, 1, big()))
	<-h.started // a's request holds ~650 of the 1000 bytes
	b.Write(appendRequest(nil, 2, big()))
	select {
	case <-h.started:
		t.Fatal("b's request was read although the budget was used up")
	case <-time.After(200 * time.Millisecond):
	}
	close(h.release)
	for i, c := range []net.Conn{a, b} {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(3)
		if corr := readResponse(t, c, resp); corr != int32(i+1) || resp.ErrorCode != 0 {
			t.Fatalf("response %d: corr %d error %d", i, corr, resp.ErrorCode)
		}
	}
}
