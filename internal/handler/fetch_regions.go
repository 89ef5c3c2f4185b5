package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/internal/commitlog"
)

// FileRegion is the record bytes of one Fetch partition that are still in a
// segment file: the response field they belong in, and the file region. The
// network layer either reads the region into the field or sends it with
// sendfile(2) right after the bytes kmsg encodes before it (see
// docs/adr/0004-zero-copy-fetch.md). Whoever writes the response must
// Release the Slice after the write, also on failure.
type FileRegion struct {
	// Field is the RecordBatches field of the response partition. It is nil
	// until the writer fills it (with the bytes, or a placeholder of
	// Slice.Len bytes while encoding).
	Field *[]byte
	// Slice is a whole-batch region of a segment file with Len > 0.
	Slice *commitlog.Slice
}

// FileResponse is a response with FileRegions. Handle returns one only when
// RequestContext.FileRegions is set; its regions are in the order kmsg
// encodes their fields.
type FileResponse interface {
	kmsg.Response
	FileRegions() []FileRegion
}

// fileFetchResponse is a Fetch response whose record bytes stay in files.
type fileFetchResponse struct {
	*kmsg.FetchResponse
	regions []FileRegion
}

func (r *fileFetchResponse) FileRegions() []FileRegion { return r.regions }

// ReleaseRegions releases the slices of regions; it is idempotent.
func ReleaseRegions(regions []FileRegion) {
	for _, r := range regions {
		r.Slice.Release()
	}
}
