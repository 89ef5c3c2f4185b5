package httpapi

import "github.com/prometheus/client_golang/prometheus"

// PartitionOffsets is what LogCollector reports for one partition log.
type PartitionOffsets struct {
	Topic         string
	Partition     int32
	LogEnd        int64 // log end offset
	HighWatermark int64
	Durable       int64 // every offset below is fsynced
	Offline       bool  // an I/O error took the log offline
}

// LogCollector exports each partition log's offsets, read at scrape time
// with each (which calls yield once per log): kavka_log_end_offset,
// kavka_log_high_watermark, kavka_log_durable_offset (labels topic,
// partition) and kavka_logs_offline.
func LogCollector(each func(yield func(PartitionOffsets))) prometheus.Collector {
	return logCollector{each: each}
}

var (
	descLogEnd  = prometheus.NewDesc("kavka_log_end_offset", "Log end offset of a partition log.", []string{"topic", "partition"}, nil)
	descHW      = prometheus.NewDesc("kavka_log_high_watermark", "High watermark of a partition log.", []string{"topic", "partition"}, nil)
	descDurable = prometheus.NewDesc("kavka_log_durable_offset", "Every offset below it is fsynced (the recovery point).", []string{"topic", "partition"}, nil)
	descOffline = prometheus.NewDesc("kavka_logs_offline", "Partition logs taken offline by an I/O error.", nil, nil)
)

type logCollector struct {
	each func(yield func(PartitionOffsets))
}

func (c logCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLogEnd
	ch <- descHW
	ch <- descDurable
	ch <- descOffline
}

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	offline := 0
	var part []byte
	c.each(func(p PartitionOffsets) {
		part = appendInt(part[:0], int64(p.Partition))
		ps := string(part)
		ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.LogEnd), p.Topic, ps)
		ch <- prometheus.MustNewConstMetric(descHW, prometheus.GaugeValue, float64(p.HighWatermark), p.Topic, ps)
		ch <- prometheus.MustNewConstMetric(descDurable, prometheus.GaugeValue, float64(p.Durable), p.Topic, ps)
		if p.Offline {
			offline++
		}
	})
	ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, float64(offline))
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}
