package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// idleDialTimeout bounds the dial and the ApiVersions round trip of one
// idle connection.
const idleDialTimeout = 5 * time.Second

// idleConns holds connections that completed one ApiVersions exchange and
// then stay silent, like the many mostly-idle clients of a real cluster.
type idleConns struct {
	conns []net.Conn
}

// openIdle opens n idle connections to addr, one after another.
func openIdle(ctx context.Context, addr string, n int) (*idleConns, error) {
	ic := &idleConns{}
	if n == 0 {
		return ic, nil
	}
	// ApiVersions v0: request header v1 (key, version, correlation id,
	// client id), empty body.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	body := req.AppendTo(nil)
	clientID := "kavka-bench-idle"
	frame := binary.BigEndian.AppendUint32(nil, uint32(2+2+4+2+len(clientID)+len(body)))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, 0)
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(clientID)))
	frame = append(frame, clientID...)
	frame = append(frame, body...)
	var d net.Dialer
	for i := range n {
		if err := ctx.Err(); err != nil {
			ic.close()
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, idleDialTimeout)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			ic.close()
			return nil, fmt.Errorf("idle connection %d: %w", i, err)
		}
		ic.conns = append(ic.conns, c)
		if err := apiVersions(c, frame); err != nil {
			ic.close()
			return nil, fmt.Errorf("idle connection %d: %w", i, err)
		}
	}
	return ic, nil
}

// apiVersions writes the frame and reads (and discards) one response.
func apiVersions(c net.Conn, frame []byte) error {
	if err := c.SetDeadline(time.Now().Add(idleDialTimeout)); err != nil {
		return err
	}
	if _, err := c.Write(frame); err != nil {
		return fmt.Errorf("write api versions: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("read api versions: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > 1<<20 {
		return fmt.Errorf("api versions response of %d bytes", size)
	}
	if _, err := io.CopyN(io.Discard, c, int64(size)); err != nil {
		return fmt.Errorf("read api versions: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

func (ic *idleConns) close() {
	for _, c := range ic.conns {
		_ = c.Close()
	}
	ic.conns = nil
}
