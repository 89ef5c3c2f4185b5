package clock

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// SkewFileEnv names the environment variable of the skew test hook: when it
// holds a path, [FromEnv] returns a clock whose wall time is the system's
// plus the offset written in that file.
const SkewFileEnv = "KAVKA_TEST_CLOCK_FILE"

// skewReload is how often a Skewed clock re-reads its file at most.
const skewReload = 100 * time.Millisecond

// FromEnv returns Real, or a [Skewed] clock reading, with readFile, the file
// named by KAVKA_TEST_CLOCK_FILE if that is set (a test hook for clock faults
// in a broker process; it costs nothing when unset). The caller supplies
// readFile (os.ReadFile in the binary) because this package does no file
// I/O of its own (STYLE C9: only internal/vfs touches files).
func FromEnv(readFile func(path string) ([]byte, error)) Clock {
	if p := os.Getenv(SkewFileEnv); p != "" {
		return NewSkewed(p, readFile)
	}
	return Real
}

// Skewed is the system clock moved by an offset that a file holds, as a
// Go duration ("-5m", "90s"; a missing or empty file is 0, an unparsable
// one keeps the last offset). The file is re-read at most every 100 ms, so
// a test can skew, jump and strobe a running process's clock.
//
// Only what is read through Now moves: timers, tickers and time.Since stay
// on the real monotonic clock, as they do when an operating system's wall
// clock jumps. A difference of two Now readings taken under different
// offsets includes the change of offset (Go's time.Time cannot carry a
// wall time apart from its monotonic reading), so code that measures
// durations with Now sees a jump as Kafka's wall-clock Time.milliseconds()
// does.
type Skewed struct {
	path     string
	readFile func(path string) ([]byte, error)

	mu     sync.Mutex
	offset time.Duration // guarded by mu
	read   time.Time     // guarded by mu; when the file was last read (zero: never)
}

// NewSkewed returns a clock skewed by the offset in the file at path, read
// with readFile.
func NewSkewed(path string, readFile func(path string) ([]byte, error)) *Skewed {
	return &Skewed{path: path, readFile: readFile}
}

// Now returns the system time plus the file's offset.
func (s *Skewed) Now() time.Time {
	now := time.Now()
	return now.Add(s.Offset(now))
}

// Offset returns the current offset, re-reading the file if the last read
// is older than 100 ms at now.
func (s *Skewed) Offset(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.read.IsZero() && now.Sub(s.read) < skewReload {
		return s.offset
	}
	s.read = now
	b, err := s.readFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.offset = 0
	case err != nil:
	default:
		v := strings.TrimSpace(string(b))
		if v == "" {
			s.offset = 0
		} else if d, err := time.ParseDuration(v); err == nil {
			s.offset = d
		}
	}
	return s.offset
}
