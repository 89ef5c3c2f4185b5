package server

// Log directory failure (docs/adr/0006-log-dir-failure.md). An I/O error
// takes a partition log offline (commitlog.ErrLogOffline); a Kavka broker
// has one log directory, so the first such error marks the directory, and
// with it every replica of the broker, offline:
//
//   - in cluster mode the broker heartbeats at once with OfflineLogDirs
//     (KIP-858), and the controller moves its leaderships away and takes it
//     out of every ISR;
//   - every broker then probes the directory (create, write, fsync, remove a
//     file) and, once a probe succeeds, stops gracefully with ErrRestart;
//     `kavka serve` re-executes itself (Reexec), so the new process recovers
//     its logs, registers again and rejoins the ISRs as a follower.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kavka-io/kavka/internal/commitlog"
	"github.com/kavka-io/kavka/internal/vfs"
)

// ErrRestart is what Run returns after a graceful stop because the broker
// must restart: its log directory failed and is writable again. A process
// calls Reexec; an in-process caller builds a new Server.
var ErrRestart = errors.New("server: restart to recover the log directory")

const (
	// DefaultLogDirProbeInterval is how often a failed log directory is
	// probed.
	DefaultLogDirProbeInterval = 5 * time.Second
	// logDirRecentStart: in a process started by Reexec, a directory that
	// fails again this soon is probed first after logDirSlowProbes
	// intervals, so that a fault the probe cannot see (a file size limit, a
	// disk that fails only under load) restarts the broker at most about
	// twice a minute.
	logDirRecentStart = time.Minute
	logDirSlowProbes  = 6
	logDirProbeName   = ".kavka-log-dir-probe"
	// EnvLogDirRestart is set in the environment of a process started by
	// Reexec.
	EnvLogDirRestart = "KAVKA_LOG_DIR_RESTART"
)

// logDirState is the health of the broker's log directory.
type logDirState struct {
	offline atomic.Bool
	once    sync.Once
	failed  chan struct{} // closed when the directory goes offline
	wake    chan struct{} // one slot: heartbeat now, the directory went offline
}

func newLogDirState() *logDirState {
	return &logDirState{failed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// fail marks the directory offline; it reports whether it was online.
func (d *logDirState) fail() bool {
	first := false
	d.once.Do(func() {
		first = true
		d.offline.Store(true)
		close(d.failed)
		select {
		case d.wake <- struct{}{}:
		default:
		}
	})
	return first
}

// sleep waits for t, ctx, or the directory going offline (the broker then
// reports it in a heartbeat at once instead of after the interval).
func (d *logDirState) sleep(ctx context.Context, t time.Duration) {
	tm := time.NewTimer(t)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	case <-d.wake:
	}
}

// logDirID is the directory's id in BrokerHeartbeat OfflineLogDirs (Kafka's
// directory.id; Kavka derives it from the path, which no controller reads).
func logDirID(dir string) [16]byte {
	h := sha256.Sum256([]byte("kavka-log-dir:" + dir))
	var id [16]byte
	copy(id[:], h[:])
	return id
}

// logOffline is commitlog.Options.OnOffline: the first offline log takes
// the directory offline. It runs under the log's locks: it only flags.
func (s *Server) logOffline(l *commitlog.Log, err error) {
	if s.dir.fail() {
		s.logger.Error("log directory offline after an I/O error: its replicas are offline until the broker restarts",
			"dir", s.cfg.DataDir, "topic", l.Topic(), "partition", l.Partition(), "err", err)
	}
}

// watchLogDir waits for the directory to fail, then probes it and returns
// ErrRestart once a probe succeeds; nil when ctx ends first.
func (s *Server) watchLogDir(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.dir.failed:
	}
	every := s.opts.LogDirProbeInterval
	if every <= 0 {
		every = DefaultLogDirProbeInterval
	}
	wait := every
	if os.Getenv(EnvLogDirRestart) != "" && time.Since(s.started) < logDirRecentStart {
		wait = logDirSlowProbes * every // the last recovery did not last
	}
	s.logger.Warn("probing the failed log directory", "dir", s.cfg.DataDir, "first_in", wait, "every", every)
	for {
		sleepCtx(ctx, wait)
		if ctx.Err() != nil {
			return nil
		}
		wait = every
		if err := probeLogDir(s.opts.FS, s.cfg.DataDir); err != nil {
			s.logger.Debug("log directory probe", "dir", s.cfg.DataDir, "err", err)
			continue
		}
		s.logger.Warn("log directory writable again: restarting the broker to recover its logs", "dir", s.cfg.DataDir)
		return ErrRestart
	}
}

// probeLogDir creates a file in dir, writes and fsyncs a page, removes the
// file and fsyncs dir: what a log needs of its directory.
func probeLogDir(fsys vfs.FS, dir string) error {
	name := fsys.PathJoin(dir, logDirProbeName)
	f, err := fsys.Create(name)
	if err != nil {
		return fmt.Errorf("create probe: %w", err)
	}
	_, werr := f.Write(make([]byte, 4096))
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		fsys.Remove(name)
		return fmt.Errorf("write probe: %w", err)
	}
	if err := fsys.Remove(name); err != nil {
		return fmt.Errorf("remove probe: %w", err)
	}
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	return errors.Join(d.Sync(), d.Close())
}

// Reexec replaces the process with a new run of the same executable, with
// the same arguments and environment plus EnvLogDirRestart (after Run
// returned ErrRestart). It returns only on error.
func Reexec() error {
	env := os.Environ()
	if os.Getenv(EnvLogDirRestart) == "" {
		env = append(env, EnvLogDirRestart+"=1")
	}
	if err := syscall.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("re-execute the broker: %w", err)
	}
	return nil
}
