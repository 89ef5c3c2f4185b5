package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/vfs"
	"github.com/kavka-io/kavka/internal/wire"
)

// Zero-copy fetch (docs/adr/0004-zero-copy-fetch.md). A Fetch response comes
// from the handler as a handler.FileResponse: kmsg structures whose record
// fields are file regions. Every byte that is not record data is encoded by
// kmsg; the record bytes go from the page cache to the socket with
// sendfile(2) at an explicit offset, so concurrent fetches of one segment
// never share a file offset.
//
// Locating the record regions in kmsg's output without knowing its layout:
//
//  1. Each spliced region gets a short placeholder l whose length prefix has
//     as many bytes as the real length L would get (placeholderLen). The
//     response is encoded twice, with the placeholders all 0x00 and all
//     0xFF. Everything else encodes identically, so the bytes that differ
//     are exactly the placeholders: one run per region, in encoding order,
//     each exactly l long (checked; regions are never adjacent because each
//     partition encodes fields around its records).
//  2. The response is encoded once more with placeholders of the real
//     lengths L (a shared read-only buffer; its content is never sent). Its
//     length must be the skeleton's plus Σ(L−l): since a length prefix never
//     shrinks as the length grows, that holds only if every prefix kept its
//     size, and then region k starts at its skeleton position plus
//     Σ_{j<k}(L_j−l_j).
//
// If a check fails the response is written on the copy path instead, so a
// change in kmsg can cost speed, never correctness.

// placeholderLen returns the shortest length whose encoded length prefix is
// as long as n's in both of Kafka's encodings of bytes (an int32, or a
// uvarint of n+1 in flexible versions), or 0 when n is too large to splice.
func placeholderLen(n int64) int {
	switch {
	case n+1 < 1<<7:
		return 1
	case n+1 < 1<<14:
		return 1<<7 - 1
	case n+1 < 1<<21:
		return 1<<14 - 1
	case n+1 < 1<<28:
		return 1<<21 - 1
	}
	return 0
}

// maxPlaceholder is the longest placeholderLen.
const maxPlaceholder = 1<<21 - 1

// ones is the 0xFF fill of the second skeleton encoding.
var ones = sync.OnceValue(func() []byte {
	b := make([]byte, maxPlaceholder)
	for i := range b {
		b[i] = 0xff
	}
	return b
})

// zeroes returns a shared read-only buffer of n zero bytes. Its pages are
// never written, so a large one costs address space, not memory.
func zeroes(n int) []byte {
	zeroMu.Lock()
	defer zeroMu.Unlock()
	if len(zeroBuf) < n {
		zeroBuf = make([]byte, max(n, 2*len(zeroBuf), maxPlaceholder))
	}
	return zeroBuf[:n:n]
}

var (
	zeroMu  sync.Mutex
	zeroBuf []byte // guarded by zeroMu; only ever replaced, never written
)

// splice is one response's plan: which regions are sent from files, and the
// encoded frame with the position of each.
type splice struct {
	frame []byte
	files []handler.FileRegion // sent with sendfile, in encoding order
	pos   []int                // start of files[i] in frame
}

// splicer encodes spliced responses; a connection keeps one to reuse its
// buffers. Not safe for concurrent use.
type splicer struct {
	a, b []byte
	lens []int
}

// layout encodes resp (whose FileRegions are files, in encoding order) and
// locates the regions in it, as described above. The frame is appended to
// dst. ok is false when the layout could not be verified; the fields are
// nil again either way.
func (sp *splicer) layout(dst []byte, corr int32, resp kmsg.Response, files []handler.FileRegion) (s splice, ok bool) {
	defer func() {
		for _, r := range files {
			*r.Field = nil
		}
	}()
	sp.lens = sp.lens[:0]
	for _, r := range files {
		l := placeholderLen(r.Slice.Len)
		if l == 0 {
			return s, false
		}
		sp.lens = append(sp.lens, l)
	}
	fill := func(src []byte) {
		for i, r := range files {
			*r.Field = src[:sp.lens[i]:sp.lens[i]]
		}
	}
	fill(zeroes(maxPlaceholder))
	sp.a = wire.AppendResponse(sp.a[:0], corr, resp)
	fill(ones())
	sp.b = wire.AppendResponse(sp.b[:0], corr, resp)
	a, b := sp.a, sp.b
	if len(a) != len(b) {
		return s, false
	}
	s.pos = make([]int, len(files))
	at, grow := 0, 0
	for i, r := range files {
		start := at + firstDiff(a[at:], b[at:])
		end := start + firstSame(a[start:], b[start:])
		if end-start != sp.lens[i] {
			return s, false
		}
		s.pos[i] = start + grow
		grow += int(r.Slice.Len) - sp.lens[i]
		at = end
	}
	if at+firstDiff(a[at:], b[at:]) != len(a) {
		return s, false // more differences than regions
	}
	for _, r := range files {
		*r.Field = zeroes(int(r.Slice.Len))
	}
	s.frame = wire.AppendResponse(dst, corr, resp)
	if len(s.frame)-len(dst) != len(a)+grow {
		return s, false
	}
	for i := range s.pos {
		s.pos[i] += len(dst)
	}
	s.files = files
	return s, true
}

// firstDiff returns the index of the first byte where a and b differ, or
// len(a). a and b have the same length.
func firstDiff(a, b []byte) int {
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) != binary.LittleEndian.Uint64(b[i:]) {
			break
		}
	}
	for ; i < len(a) && a[i] == b[i]; i++ {
	}
	return i
}

// firstSame returns the index of the first byte where a and b are equal, or
// len(a). a and b have the same length. It compares 8 bytes at a time:
// placeholders run up to 2 MiB per region, and a byte loop over them was a
// third of the broker's CPU in a 64 MiB raw fetch.
func firstSame(a, b []byte) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
		if (x-lo)&^x&hi != 0 { // some byte of x is zero: a and b agree there
			break
		}
	}
	for ; i < len(a) && a[i] != b[i]; i++ {
	}
	return i
}

// errShortFile means a segment file ended inside a region being sent: it
// was truncated under the fetch. The response cannot be completed.
var errShortFile = errors.New("network: segment file shorter than the fetched region")

// sendfile sends n bytes of the file src from off to the socket with
// sendfile(2), waiting for the socket through the poller (so the write
// deadline applies). The file offset is explicit: the file's own is not
// used, so concurrent fetches of one segment do not interfere.
func sendfile(rc syscall.RawConn, src int, off, n int64) error {
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		for n > 0 {
			m, err := unix.Sendfile(int(fd), src, &off, int(min(n, 1<<30)))
			if m > 0 {
				n -= int64(m)
			}
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // wait until the socket is writable
			case errors.Is(err, unix.EINTR):
			case err != nil:
				serr = fmt.Errorf("sendfile: %w", err)
				return true
			case m == 0:
				serr = errShortFile
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}

// cork holds back partial TCP segments between the pieces of one response
// (TCP_CORK), and on false sends what is held.
func cork(rc syscall.RawConn, on bool) {
	v := 0
	if on {
		v = 1
	}
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	})
}

// layoutWarned makes the layout failure log once per process.
var layoutWarned atomic.Bool

// testHookBeforeSendfile, when set by a test, runs before each sendfile.
var testHookBeforeSendfile func()

// writeFileResponse writes a response with file regions: regions at least
// cfg.SendfileMinBytes long with an OS file go with sendfile, the others are
// read into the response, which kmsg encodes. It releases every region. buf
// is scratch for the frame; the possibly grown buffer is returned.
func (c *conn) writeFileResponse(buf []byte, corr int32, resp handler.FileResponse) ([]byte, error) {
	regions := resp.FileRegions()
	defer handler.ReleaseRegions(regions)
	c.copyBuf = c.copyBuf[:0]
	var files, copies []handler.FileRegion
	copied := int64(0)
	for _, r := range regions {
		if c.raw != nil && c.s.cfg.SendfileMinBytes >= 0 && r.Slice.Len >= c.s.cfg.SendfileMinBytes && r.Slice.File.Fd() != vfs.NoFd {
			files = append(files, r)
		} else {
			copies = append(copies, r)
			copied += r.Slice.Len
		}
	}
	if err := c.readRegions(copies); err != nil {
		return buf, err
	}
	// The frame holds every region's length (placeholders for the files).
	if need := int(copied+placeholderBytes(files)) + 64<<10; cap(buf) < need {
		putBuf(buf)
		buf = getBuf(need)
	}
	if len(files) > 0 {
		s, ok := c.sp.layout(buf[:0], corr, resp, files)
		if ok {
			return s.frame, c.writeSpliced(s)
		}
		if layoutWarned.CompareAndSwap(false, true) {
			c.s.cfg.Logger.Error("BUG: zero-copy fetch layout not verified; copying instead", "peer", c.peer,
				"fetch_version", resp.GetVersion())
		}
		if err := c.readRegions(files); err != nil {
			return buf, err
		}
	}
	buf = wire.AppendResponse(buf[:0], corr, resp)
	_, err := c.nc.Write(buf)
	return buf, err
}

func placeholderBytes(files []handler.FileRegion) int64 {
	n := int64(0)
	for _, r := range files {
		n += r.Slice.Len
	}
	return n
}

// readRegions reads regions into their fields, appending to c.copyBuf.
func (c *conn) readRegions(regions []handler.FileRegion) error {
	total := int64(0)
	for _, r := range regions {
		total += r.Slice.Len
	}
	if need := len(c.copyBuf) + int(total); need > cap(c.copyBuf) && len(c.copyBuf) == 0 {
		putBuf(c.copyBuf)
		c.copyBuf = getBuf(need)
	}
	c.copyBuf = slices.Grow(c.copyBuf, int(total))
	for _, r := range regions {
		start := len(c.copyBuf)
		var err error
		if c.copyBuf, err = r.Slice.ReadAll(c.copyBuf); err != nil {
			return err
		}
		*r.Field = c.copyBuf[start:len(c.copyBuf):len(c.copyBuf)]
	}
	return nil
}

// writeSpliced writes the frame around the regions and the regions with
// sendfile, corked so that the pieces leave in full segments.
func (c *conn) writeSpliced(s splice) error {
	cork(c.raw, true)
	defer cork(c.raw, false)
	at := 0
	for i, r := range s.files {
		if _, err := c.nc.Write(s.frame[at:s.pos[i]]); err != nil {
			return err
		}
		if testHookBeforeSendfile != nil {
			testHookBeforeSendfile()
		}
		if err := sendfile(c.raw, int(r.Slice.File.Fd()), r.Slice.Pos, r.Slice.Len); err != nil {
			return err
		}
		at = s.pos[i] + int(r.Slice.Len)
	}
	_, err := c.nc.Write(s.frame[at:])
	return err
}
