package chaos

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// echo starts a TCP echo server.
func echo(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// roundTrip writes b and reads len(b) bytes back within d.
func roundTrip(c net.Conn, b []byte, d time.Duration) ([]byte, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	out := make([]byte, len(b))
	_, err := io.ReadFull(c, out)
	return out, err
}

// frame builds a Kafka request frame with an API key and client id.
func frame(key int16, clientID string) []byte {
	body := make([]byte, 0, 64)
	body = binary.BigEndian.AppendUint16(body, uint16(key))
	body = binary.BigEndian.AppendUint16(body, 0)
	body = binary.BigEndian.AppendUint32(body, 7)
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	body = append(body, clientID...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestProxyFaults(t *testing.T) {
	n := NewNet(1, t.Logf)
	defer n.Close()
	addr, err := n.ListenPair("127.0.0.1:0", echo(t), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := roundTrip(c, []byte("hello"), time.Second); err != nil {
		t.Fatal(err)
	}
	// Delay applies per direction: 1→2 and 2→1 both add it.
	n.Set(1, 2, Rule{Delay: 100 * time.Millisecond, HoldAPIKey: -1})
	n.Set(2, 1, Rule{Delay: 50 * time.Millisecond, HoldAPIKey: -1})
	start := time.Now()
	if _, err := roundTrip(c, []byte("slow"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("round trip %v with 150ms of delay", d)
	}
	n.Heal()
	// A one-way blackhole: nothing comes back, no error; healing delivers.
	n.Partition(2, 1)
	if _, err := roundTrip(c, []byte("held"), 300*time.Millisecond); !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
		t.Fatalf("through a blackhole: %v", err)
	}
	n.Heal()
	c.SetDeadline(time.Now().Add(time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
	// Bandwidth: 20 KiB at 100 KiB/s takes ≥ 200ms each way.
	n.Set(1, 2, Rule{BytesPerSec: 100 << 10, HoldAPIKey: -1})
	start = time.Now()
	if _, err := roundTrip(c, make([]byte, 20<<10), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("20 KiB at 100 KiB/s in %v", d)
	}
	n.Heal()
	// Reset closes the connection.
	n.Reset(1, 2)
	if _, err := roundTrip(c, []byte("x"), time.Second); err == nil {
		t.Fatal("connection survived a reset")
	}
	// Down refuses connections, Up accepts them again on the same address.
	n.Down(2)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("dial succeeded while down")
	}
	if err := n.Up(2); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := roundTrip(c2, []byte("again"), time.Second); err != nil {
		t.Fatal(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyKafkaSourceAndHold(t *testing.T) {
	if got := frameSource(frame(1, "kavka-replica-3")); got != 3 {
		t.Errorf("replica source %d", got)
	}
	if got := frameSource(frame(63, "kavka-broker-2")); got != 2 {
		t.Errorf("broker source %d", got)
	}
	if got := frameSource(frame(0, "kgo")); got != Client {
		t.Errorf("client source %d", got)
	}
	n := NewNet(1, t.Logf)
	defer n.Close()
	addr, err := n.ListenKafka("127.0.0.1:0", echo(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := frame(18, "kavka-replica-2")
	if _, err := roundTrip(c, first, time.Second); err != nil {
		t.Fatal(err)
	}
	if n.Accepted(2, 1) != 1 {
		t.Fatalf("connection not counted as 2→1")
	}
	// Hold Produce (0) on 2→1: it and what follows wait for Release.
	n.Update(2, 1, func(r *Rule) { r.HoldAPIKey = 0 })
	produce := frame(0, "kavka-replica-2")
	if _, err := roundTrip(c, produce, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("held frame: %v", err)
	}
	n.Release(2, 1)
	c.SetDeadline(time.Now().Add(time.Second))
	got := make([]byte, len(produce))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(produce) {
		t.Fatalf("released frame: %v", err)
	}
}
