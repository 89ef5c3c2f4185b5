package server

import (
	"context"
	"fmt"
	"time"

	"github.com/kavka-io/kavka/internal/config"
)

// Running is a broker started by Start.
type Running struct {
	*Server
	cancel context.CancelFunc
	done   chan error
}

// Start builds a broker from cfg and runs it in a goroutine, for in-process
// tests and tools. Listen on 127.0.0.1:0 to get a free port; Addr tells it.
func Start(cfg *config.Broker, opts Options) (*Running, error) {
	s, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Server: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	return r, nil
}

// Stop stops the broker gracefully and waits at most timeout for it.
func (r *Running) Stop(timeout time.Duration) error {
	r.cancel()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-r.done:
		return err
	case <-t.C:
		return fmt.Errorf("broker did not stop within %v", timeout)
	}
}
