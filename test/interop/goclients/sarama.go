package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/IBM/sarama"
)

func saramaCodec(codec string) (sarama.CompressionCodec, error) {
	switch codec {
	case "none":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return 0, fmt.Errorf("unknown codec %q", codec)
}

// runSarama: metadata, create topic, produce n keyed records with a sync
// producer (acks=all), consume every partition from the oldest offset to
// the high watermark, print the records.
func runSarama(ctx context.Context, brokers, topic, codec, kafkaVersion string, n, partitions int, out io.Writer) error {
	comp, err := saramaCodec(codec)
	if err != nil {
		return err
	}
	version, err := sarama.ParseKafkaVersion(kafkaVersion)
	if err != nil {
		return fmt.Errorf("kafka version: %w", err)
	}
	cfg := sarama.NewConfig()
	cfg.ClientID = "kavka-interop-sarama"
	cfg.Version = version
	cfg.Producer.Compression = comp
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Net.ReadTimeout = 30 * time.Second
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond

	client, err := sarama.NewClient([]string{brokers}, cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer client.Close()
	if len(client.Brokers()) == 0 {
		return fmt.Errorf("metadata: no brokers")
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	var parts []int32
	for ctx.Err() == nil {
		if err := client.RefreshMetadata(topic); err == nil {
			if parts, err = client.Partitions(topic); err == nil && len(parts) == partitions {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(parts) != partitions {
		return fmt.Errorf("metadata of %s: %d partitions, want %d", topic, len(parts), partitions)
	}

	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		msgs := make([]*sarama.ProducerMessage, 0, chunk)
		for i := start; i < min(start+chunk, n); i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key(i)), Value: sarama.StringEncoder(value(i))})
		}
		if err := prod.SendMessages(msgs); err != nil {
			prod.Close()
			return fmt.Errorf("produce: %w", err)
		}
	}
	if err := prod.Close(); err != nil {
		return fmt.Errorf("close producer: %w", err)
	}

	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer cons.Close()
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("end offset of %d: %w", p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("consume partition %d: %w", p, err)
		}
	read:
		for {
			select {
			case m := <-pc.Messages():
				fmt.Fprintf(bw, "%d\t%d\t%s\t%s\n", m.Partition, m.Offset, m.Key, m.Value)
				if m.Offset+1 >= end {
					break read
				}
			case cerr := <-pc.Errors():
				pc.Close()
				return fmt.Errorf("consume partition %d: %w", p, cerr)
			case <-ctx.Done():
				pc.Close()
				return fmt.Errorf("consume partition %d: %w", p, ctx.Err())
			}
		}
		pc.Close()
	}
	return nil
}
