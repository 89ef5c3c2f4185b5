package server

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/wire"
)

func rawRequest(dst []byte, corr int32, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func oneBatch(t testing.TB, value string) []byte {
	t.Helper()
	b := record.NewBuilder(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseTimestamp: time.Now().UnixMilli()})
	b.Add(record.Record{Value: []byte(value)})
	out, err := b.Build(nil)
	must(t, err)
	return out
}

// TestPipelinedProduceInOrder sends many Produce requests on one connection
// without waiting and checks the responses come back in request order with
// consecutive offsets, then that acks=0 gets no response.
func TestPipelinedProduceInOrder(t *testing.T) {
	_, addr := startBroker(t)
	createTopic(t, addr, "pipe", 1, nil)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	produce := func(acks int16, value string) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneBatch(t, value)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	var buf []byte
	const n = 40
	for i := range n {
		buf = rawRequest(buf, int32(100+i), produce(-1, "v"))
	}
	buf = rawRequest(buf, 999, produce(0, "acks0")) // no response
	av := kmsg.NewPtrApiVersionsRequest()
	buf = rawRequest(buf, 1000, av)
	_, err = c.Write(buf)
	must(t, err)
	for i := range n {
		frame, err := wire.ReadFrame(c, 1<<20, nil)
		must(t, err)
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		must(t, resp.ReadFrom(frame[5:]))
		corr := int32(binary.BigEndian.Uint32(frame))
		p := resp.Topics[0].Partitions[0]
		if corr != int32(100+i) || p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("response %d: corr %d error %d offset %d", i, corr, p.ErrorCode, p.BaseOffset)
		}
	}
	frame, err := wire.ReadFrame(c, 1<<20, nil)
	must(t, err)
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != 1000 {
		t.Fatalf("after acks=0: correlation id %d, want 1000 (ApiVersions)", corr)
	}
}

// TestBadProduceInput: per-partition errors for bad batches, and acks=0
// with a bad batch closes the connection.
func TestBadProduceInput(t *testing.T) {
	_, addr := startBroker(t)
	createTopic(t, addr, "bad", 1, nil)
	good := oneBatch(t, "x")
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 0xff
	magic1 := append([]byte(nil), good...)
	magic1[16] = 1
	two := append(append([]byte(nil), good...), good...)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	f := func(name string, topic string, partition int32, acks int16, records []byte, want int16) {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = partition, records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		_, err := c.Write(rawRequest(nil, 1, req))
		must(t, err)
		frame, err := wire.ReadFrame(c, 1<<20, nil)
		must(t, err)
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		must(t, resp.ReadFrom(frame[5:]))
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != want {
			t.Errorf("%s: error %d, want %d", name, got, want)
		}
	}
	f("good", "bad", 0, -1, good, 0)
	f("crc", "bad", 0, -1, corrupt, 2)             // CORRUPT_MESSAGE
	f("magic", "bad", 0, -1, magic1, 43)           // UNSUPPORTED_FOR_MESSAGE_FORMAT
	f("two batches", "bad", 0, -1, two, 87)        // INVALID_RECORD
	f("empty", "bad", 0, -1, nil, 87)              // INVALID_RECORD
	f("acks 2", "bad", 0, 2, good, 21)             // INVALID_REQUIRED_ACKS
	f("unknown topic", "nope", 0, -1, good, 3)     // UNKNOWN_TOPIC_OR_PARTITION
	f("bad partition", "bad", 7, -1, good, 3)      // UNKNOWN_TOPIC_OR_PARTITION
	f("negative partition", "bad", -1, 1, good, 3) // UNKNOWN_TOPIC_OR_PARTITION

	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 0
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bad"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = corrupt
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	_, err = c.Write(rawRequest(nil, 2, req))
	must(t, err)
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		t.Errorf("acks=0 with a bad batch: read %d bytes, err %v; want a close", n, err)
	}
}

// FuzzServeFrame drives random frames through the real broker's connection
// loop (every API the broker serves, with real storage): the next client's
// ApiVersions must succeed and no handler may panic.
func FuzzServeFrame(f *testing.F) {
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "a", "1"
	f.Add(rawRequest(nil, 1, av)[4:])
	for _, req := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrFetchRequest(), kmsg.NewPtrProduceRequest(),
		kmsg.NewPtrListOffsetsRequest(), kmsg.NewPtrDeleteRecordsRequest(), kmsg.NewPtrDescribeLogDirsRequest(),
		kmsg.NewPtrOffsetForLeaderEpochRequest()} {
		req.SetVersion(req.MaxVersion() - 2)
		f.Add(rawRequest(nil, 1, req)[4:])
	}
	bugs := &bugCatcher{}
	_, addr := startBrokerWith(f, slog.New(bugs))
	createTopic(f, addr, "fz", 2, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		must(t, err)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
		c.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, io.LimitReader(c, 64<<20)); err != nil {
			t.Fatalf("broker neither answered nor closed: %v", err)
		}
		c2, err := net.DialTimeout("tcp", addr, 5*time.Second)
		must(t, err)
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c2.Write(rawRequest(nil, 5, av))
		must(t, err)
		if _, err := wire.ReadFrame(c2, 1<<20, nil); err != nil {
			t.Fatalf("next ApiVersions: %v", err)
		}
		if msg := bugs.last.Load(); msg != nil {
			t.Fatalf("broker logged a bug: %s", *msg)
		}
	})
}

// bugCatcher is a slog.Handler that remembers records starting with "BUG".
type bugCatcher struct{ last atomic.Pointer[string] }

func (b *bugCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (b *bugCatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "BUG") {
		s := r.Message
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		b.last.Store(&s)
	}
	return nil
}
func (b *bugCatcher) WithAttrs([]slog.Attr) slog.Handler { return b }
func (b *bugCatcher) WithGroup(string) slog.Handler      { return b }
