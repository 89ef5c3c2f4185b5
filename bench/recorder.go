package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in microseconds: 1 µs to 5 minutes, 3 significant digits.
const (
	histMinMicros = 1
	histMaxMicros = int64(5 * time.Minute / time.Microsecond)
	histSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// recorder counts records and bytes and records latencies. It is shared by
// the goroutines of one run (kgo promises come from several goroutines).
type recorder struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	total    *hdrhistogram.Histogram // the whole measured run
	interval *hdrhistogram.Histogram // since the last tick
	records  int64
	bytes    int64
	errors   int64
	firstErr error
	ivRecs   int64
	ivBytes  int64
}

func newRecorder() *recorder {
	return &recorder{total: newHist(), interval: newHist()}
}

// add counts n records of b bytes, with latency d if d >= 0.
func (r *recorder) add(n, b int64, d time.Duration) {
	r.mu.Lock()
	r.addLocked(n, b, d)
	r.mu.Unlock()
}

// addLocked is add with mu held.
func (r *recorder) addLocked(n, b int64, d time.Duration) {
	r.records += n
	r.bytes += b
	r.ivRecs += n
	r.ivBytes += b
	if d >= 0 {
		us := int64(d / time.Microsecond)
		if us < histMinMicros {
			us = histMinMicros
		}
		if us > histMaxMicros {
			us = histMaxMicros
		}
		// Values are clamped to the range, so RecordValue cannot fail.
		_ = r.total.RecordValue(us)
		_ = r.interval.RecordValue(us)
	}
}

// fail counts a failed record and keeps the first error.
func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errors++
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

// counts returns the running totals.
func (r *recorder) counts() (records, bytes, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records, r.bytes, r.errors
}

// tick returns the interval's counts and latency point and starts a new
// interval.
func (r *recorder) tick(at time.Duration, elapsed time.Duration) Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Point{
		T:             at.Seconds(),
		RecordsPerSec: float64(r.ivRecs) / elapsed.Seconds(),
		MBPerSec:      float64(r.ivBytes) / 1e6 / elapsed.Seconds(),
	}
	if r.interval.TotalCount() > 0 {
		p.P50 = ms(r.interval.ValueAtQuantile(50))
		p.P99 = ms(r.interval.ValueAtQuantile(99))
		p.Max = ms(r.interval.Max())
	}
	r.interval.Reset()
	r.ivRecs, r.ivBytes = 0, 0
	return p
}

// latency summarizes the whole-run histogram; nil if nothing was recorded.
func (r *recorder) latency() *Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.total
	if h.TotalCount() == 0 {
		return nil
	}
	return &Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1e3,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// ms converts histogram microseconds to milliseconds.
func ms(us int64) float64 { return float64(us) / 1e3 }
