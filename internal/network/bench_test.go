package network

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/wire"
)

// BenchmarkFetchResponse fetches one partition's region of size bytes from
// a segment file over loopback TCP, the client discarding the response, on
// the copy path and with sendfile; beside it, in the same run, the
// baselines: a raw memcpy of the same bytes, and a raw write of them over
// loopback TCP to a reader that discards them.
func BenchmarkFetchResponse(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		// Batches of ~1 KiB, so a region is size bytes rounded down to
		// whole batches.
		l := testLog(b, size/1000+2, 950, 1<<30)
		want := len(expected(b, l, 0, int32(size)))
		for _, mode := range []struct {
			name string
			min  int64
		}{{"copy", -1}, {"sendfile", 1}} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode.name, size>>10), func(b *testing.B) {
				h := &fileHandler{l: l, maxBytes: int32(size), inner: handler.New(handler.Deps{})}
				s := start(b, h, Config{SendfileMinBytes: mode.min})
				c := dial(b, s.addr)
				c.SetDeadline(noDeadline)
				req := appendRequest(nil, 1, oneFetch(12))
				b.SetBytes(int64(want))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Write(req); err != nil {
						b.Fatal(err)
					}
					discardFrame(b, c)
				}
			})
		}
		b.Run(fmt.Sprintf("baseline-memcpy/%dKiB", size>>10), func(b *testing.B) {
			src, dst := bytes.Repeat([]byte{1}, want), make([]byte, want)
			b.SetBytes(int64(want))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(fmt.Sprintf("baseline-tcp-write/%dKiB", size>>10), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4)
				for { // echo a frame of want bytes per 4-byte request
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					frame := make([]byte, 4+want)
					binary.BigEndian.PutUint32(frame, uint32(want))
					if _, err := c.Write(frame); err != nil {
						return
					}
				}
			}()
			c := dial(b, ln.Addr().String())
			c.SetDeadline(noDeadline)
			b.SetBytes(int64(want))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write([]byte{0, 0, 0, 0}); err != nil {
					b.Fatal(err)
				}
				discardFrame(b, c)
			}
			c.Close()
			<-done
		})
	}
}

// oneFetch is a Fetch of partition 0 at offset 0 of one topic.
func oneFetch(v int16) *kmsg.FetchRequest {
	req := fetchRequest(v, 0)
	req.Topics = req.Topics[:1]
	return req
}

var (
	scratch    = make([]byte, 64<<10)
	noDeadline time.Time
)

func discardFrame(b *testing.B, c net.Conn) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		b.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	for n > 0 {
		m, err := c.Read(scratch[:min(n, len(scratch))])
		if err != nil {
			b.Fatal(err)
		}
		n -= m
	}
}

// produceRequest is a Produce request of parts partitions, each with one
// batch of about batchBytes.
func produceRequest(parts, batchBytes int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	for i := range parts {
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition = int32(i)
		p.Records = bytes.Repeat([]byte{byte(i)}, batchBytes)
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	return req
}

// BenchmarkRequestDecode decodes request frames the way the reader does
// (header, then the kmsg body); the baseline copies the same frame.
func BenchmarkRequestDecode(b *testing.B) {
	frames := map[string][]byte{
		"produce-8x128KiB": appendRequest(nil, 1, produceRequest(8, 128<<10))[4:],
		"fetch-100parts":   appendRequest(nil, 1, fetchRequest(12, make([]int64, 50)...))[4:],
	}
	for _, name := range []string{"produce-8x128KiB", "fetch-100parts"} {
		frame := frames[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				hdr, body, err := wire.ParseHeader(frame)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := wire.DecodeRequest(hdr, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/baseline-memcpy", func(b *testing.B) {
			dst := make([]byte, len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, frame)
			}
		})
	}
}

// BenchmarkResponseEncode encodes responses into a reused buffer as the
// worker does: a Produce response of 8 partitions, and a Fetch response of
// 8 partitions × 128 KiB copied in, against a memcpy of those bytes.
func BenchmarkResponseEncode(b *testing.B) {
	pr := kmsg.NewPtrProduceResponse()
	pr.SetVersion(9)
	pt := kmsg.NewProduceResponseTopic()
	pt.Topic = "bench"
	for i := range 8 {
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition, p.BaseOffset = int32(i), int64(i)<<20
		pt.Partitions = append(pt.Partitions, p)
	}
	pr.Topics = append(pr.Topics, pt)

	fr := kmsg.NewPtrFetchResponse()
	fr.SetVersion(12)
	ft := kmsg.NewFetchResponseTopic()
	ft.Topic = "bench"
	records := bytes.Repeat([]byte{7}, 128<<10)
	for i := range 8 {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition, p.RecordBatches = int32(i), records
		ft.Partitions = append(ft.Partitions, p)
	}
	fr.Topics = append(fr.Topics, ft)

	for _, c := range []struct {
		name string
		resp kmsg.Response
	}{{"produce-8parts", pr}, {"fetch-8x128KiB", fr}} {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = wire.AppendResponse(buf[:0], 1, c.resp)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
	b.Run("fetch-8x128KiB/baseline-memcpy", func(b *testing.B) {
		dst := make([]byte, 8*len(records))
		b.SetBytes(int64(len(dst)))
		b.ReportAllocs()
		for b.Loop() {
			for i := range 8 {
				copy(dst[i*len(records):], records)
			}
		}
	})
}
