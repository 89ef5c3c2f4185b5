package server

// Log directory failure (docs/adr/0006-log-dir-failure.md). An I/O error
// takes a partition log offline (commitlog.ErrLogOffline); a Kavka broker
// has one log directory, so the first such error marks the directory, and
// with it every replica of the broker, offline:
//
//   - in cluster mode the broker heartbeats at once with OfflineLogDirs
//     (KIP-858), and the controller moves its leaderships away and takes it
//     out of every ISR;
//   - every broker then probes the directory (create, write, fsync, read
//     back and remove a file, and read again the bytes of every segment
//     whose read failed) and, once a probe succeeds, stops gracefully with
//     ErrRestart; `kavka serve` re-executes itself (Reexec), so the new
//     process recovers its logs, registers again and rejoins the ISRs as a
//     follower;
//   - a process whose log recovery fails on an I/O error (New returns
//     ErrLogDirFailed) does not exit: `kavka serve` waits for the same
//     probe to pass (AwaitLogDir), slowly, and tries again.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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

// ErrLogDirFailed wraps the error of New when loading the partition logs
// failed on an error of the file system (EIO on a read of a segment): the
// log directory is failing. The caller waits for it with AwaitLogDir and
// tries again; nothing was served from it.
var ErrLogDirFailed = errors.New("server: log directory failed while loading the logs")

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
	logDirProbeName   = commitlog.ProbeFileName
	// maxProbeReads bounds the failed reads a probe repeats (the first
	// ones: each log goes offline once).
	maxProbeReads = 16
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

	mu    sync.Mutex
	reads []commitlog.ReadError // guarded by mu: failed reads the probe repeats
}

// addRead records a failed read of a segment for the probe to repeat.
func (d *logDirState) addRead(re commitlog.ReadError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.reads) < maxProbeReads {
		d.reads = append(d.reads, re)
	}
}

// failedReads returns the failed reads recorded so far.
func (d *logDirState) failedReads() []commitlog.ReadError {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]commitlog.ReadError(nil), d.reads...)
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
// the directory offline; a failed read of a segment (any log's) is
// recorded for the probe to repeat. It runs under the log's locks: it only
// flags.
func (s *Server) logOffline(l *commitlog.Log, err error) {
	if re := (*commitlog.ReadError)(nil); errors.As(err, &re) {
		s.dir.addRead(*re)
	}
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
		if err := commitlog.ProbeDir(s.opts.FS, s.cfg.DataDir, s.dir.failedReads()); err != nil {
			s.logger.Debug("log directory probe", "dir", s.cfg.DataDir, "err", err)
			continue
		}
		s.logger.Warn("log directory readable and writable again: restarting the broker to recover its logs", "dir", s.cfg.DataDir)
		return ErrRestart
	}
}

// AwaitLogDir waits until the probe of dir passes, after New failed with
// ErrLogDirFailed (cause): the probe also reads again the file whose read
// failed, if cause names one. The first probe comes after
// logDirSlowProbes intervals (every; 0 means the default), as after a
// recovery that did not last, so that a fault the probe cannot see loads
// the logs at most about twice a minute. It returns nil when the probe
// passed, or ctx's error.
func AwaitLogDir(ctx context.Context, fsys vfs.FS, dir string, cause error, every time.Duration, logger *slog.Logger) error {
	if fsys == nil {
		fsys = vfs.Default
	}
	if every <= 0 {
		every = DefaultLogDirProbeInterval
	}
	var reads []commitlog.ReadError
	if re, ok := commitlog.FailedRead(cause); ok {
		reads = append(reads, re)
	}
	wait := logDirSlowProbes * every
	logger.Error("log directory failed while loading the logs: not serving; probing it, then loading again",
		"dir", dir, "err", cause, "first_in", wait, "every", every)
	for {
		sleepCtx(ctx, wait)
		if err := ctx.Err(); err != nil {
			return err
		}
		wait = every
		if err := commitlog.ProbeDir(fsys, dir, reads); err != nil {
			logger.Debug("log directory probe", "dir", dir, "err", err)
			continue
		}
		logger.Warn("log directory readable and writable again: loading the logs", "dir", dir)
		return nil
	}
}

// isLogDirFailure reports whether err, from commitlog.Manager.Load, is an
// error of the file system (ErrLogDirFailed) rather than of the
// configuration.
func isLogDirFailure(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
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
