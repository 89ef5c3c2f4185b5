package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// waitReady dials until the broker accepts a connection and answers
// ApiVersions, bounded by ctx.
func waitReady(ctx context.Context, brokers string) error {
	var lastErr error
	for ctx.Err() == nil {
		if _, err := apiVersions(ctx, brokers); err == nil {
			return nil
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("broker %s not ready: %w", brokers, lastErr)
}

func apiVersions(ctx context.Context, brokers string) ([]kafka.ApiVersion, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(dctx, "tcp", brokers)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	return conn.ApiVersions()
}

// printAPIs prints the API keys the broker advertises, one per line.
func printAPIs(ctx context.Context, brokers string, w io.Writer) error {
	vs, err := apiVersions(ctx, brokers)
	if err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].ApiKey < vs[j].ApiKey })
	for _, v := range vs {
		fmt.Fprintf(w, "%d %d %d\n", v.ApiKey, v.MinVersion, v.MaxVersion)
	}
	return nil
}

func kafkaGoCodec(codec string) (kafka.Compression, error) {
	switch codec {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown codec %q", codec)
}

// runKafkaGo: metadata, create topic, produce n keyed records, consume every
// partition back to its end, print the records.
func runKafkaGo(ctx context.Context, brokers, topic, codec string, n, partitions int, out io.Writer) error {
	comp, err := kafkaGoCodec(codec)
	if err != nil {
		return err
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", brokers)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	cconn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("dial controller: %w", err)
	}
	defer cconn.Close()
	if err := cconn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	parts, err := waitPartitions(ctx, conn, topic, partitions)
	if err != nil {
		return err
	}

	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		Compression:  comp,
		RequiredAcks: kafka.RequireAll,
		BatchSize:    500,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  3,
	}
	defer w.Close()
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		msgs := make([]kafka.Message, 0, chunk)
		for i := start; i < min(start+chunk, n); i++ {
			msgs = append(msgs, kafka.Message{Key: []byte(key(i)), Value: []byte(value(i))})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}

	bw := bufio.NewWriter(out)
	defer bw.Flush()
	for _, p := range parts {
		lconn, err := dialer.DialLeader(ctx, "tcp", brokers, topic, p)
		if err != nil {
			return fmt.Errorf("dial leader of %d: %w", p, err)
		}
		end, err := lconn.ReadLastOffset()
		lconn.Close()
		if err != nil {
			return fmt.Errorf("last offset of %d: %w", p, err)
		}
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{brokers}, Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			r.Close()
			return fmt.Errorf("set offset: %w", err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return fmt.Errorf("consume partition %d: %w", p, err)
			}
			fmt.Fprintf(bw, "%d\t%d\t%s\t%s\n", m.Partition, m.Offset, m.Key, m.Value)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return nil
}

// waitPartitions waits (bounded by ctx) until metadata shows the topic with
// all its partitions and leaders.
func waitPartitions(ctx context.Context, conn *kafka.Conn, topic string, want int) ([]int, error) {
	var lastErr error
	for ctx.Err() == nil {
		ps, err := conn.ReadPartitions(topic)
		if err == nil && len(ps) == want {
			ids := make([]int, 0, len(ps))
			ok := true
			for _, p := range ps {
				ids = append(ids, p.ID)
				ok = ok && p.Leader.Host != ""
			}
			if ok {
				sort.Ints(ids)
				return ids, nil
			}
		}
		if err != nil {
			lastErr = err
		} else {
			lastErr = fmt.Errorf("%d partitions with leaders, want %d", len(ps), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, errors.Join(fmt.Errorf("metadata of %s", topic), lastErr)
}
