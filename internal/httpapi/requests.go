package httpapi

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestMetrics counts Kafka requests per API: kavka_requests_total,
// kavka_request_bytes_total (request frames in) and
// kavka_request_duration_seconds (serving plus writing the response), each
// labelled api (the Kafka API name). Observe is meant for network.Config.
type RequestMetrics struct {
	count    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// Per-key children, created on a key's first request (so that only
	// APIs in use are exported) and then used without a label lookup:
	// index = API key.
	kids [maxAPIKey + 1]atomic.Pointer[requestKids]
}

type requestKids struct {
	count, bytes prometheus.Counter
	duration     prometheus.Observer
}

// NewRequestMetrics returns the metrics; register them with Config.Collectors.
func NewRequestMetrics() *RequestMetrics {
	m := &RequestMetrics{
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kavka_requests_total", Help: "Kafka requests served, by API.",
		}, []string{"api"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kavka_request_bytes_total", Help: "Bytes of request frames received, by API.",
		}, []string{"api"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kavka_request_duration_seconds", Help: "Time to serve a request and write its response, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 0.1 ms … 13 s
		}, []string{"api"}),
	}
	return m
}

func (m *RequestMetrics) kidsFor(key int16) *requestKids {
	if k := m.kids[key].Load(); k != nil {
		return k
	}
	name := kmsg.NameForKey(key)
	if name == "" {
		name = "key" + strconv.Itoa(int(key))
	}
	k := &requestKids{
		count:    m.count.WithLabelValues(name),
		bytes:    m.bytes.WithLabelValues(name),
		duration: m.duration.WithLabelValues(name),
	}
	m.kids[key].CompareAndSwap(nil, k) // a racing twin holds the same children
	return m.kids[key].Load()
}

// maxAPIKey bounds the keys with their own children; others are dropped
// (the network layer refuses unknown keys before serving them anyway).
const maxAPIKey = 100

// Observe records one request. Safe for concurrent use.
func (m *RequestMetrics) Observe(apiKey int16, d time.Duration, requestBytes int64) {
	if apiKey < 0 || int(apiKey) >= len(m.kids) {
		return
	}
	k := m.kidsFor(apiKey)
	k.count.Inc()
	k.bytes.Add(float64(requestBytes))
	k.duration.Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *RequestMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.count.Describe(ch)
	m.bytes.Describe(ch)
	m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *RequestMetrics) Collect(ch chan<- prometheus.Metric) {
	m.count.Collect(ch)
	m.bytes.Collect(ch)
	m.duration.Collect(ch)
}
