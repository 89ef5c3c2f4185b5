package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The "connect" group protocol, eager flavour ("default"), as Kafka's
// ConnectProtocol v0 lays it out (all integers big endian, strings int16
// length + bytes, arrays int32 count + elements):
//
//	worker metadata (JoinGroup):  version int16 | url string | config_offset int64
//	assignment (SyncGroup):       version int16 | error int16 | leader string |
//	                              leader_url string | config_offset int64 |
//	                              [connector string | [task int32]]
//
// A task id of -1 (connectorTask) stands for the connector instance itself.
// Kavka workers speak the same bytes, so a group could in principle mix
// them with Kafka workers of the eager protocol.
const (
	connectProtocolType = "connect"
	eagerProtocol       = "default"
	connectorTask       = -1

	assignNoError        = 0
	assignConfigMismatch = 1
)

var errProtocol = errors.New("malformed connect protocol message")

// workerState is one member's JoinGroup metadata.
type workerState struct {
	URL          string
	ConfigOffset int64
}

// assignment is what the leader gives one member.
type assignment struct {
	Error        int16
	Leader       string
	LeaderURL    string
	ConfigOffset int64
	Connectors   []string
	Tasks        []TaskID
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func (w workerState) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = appendString(dst, w.URL)
	return binary.BigEndian.AppendUint64(dst, uint64(w.ConfigOffset))
}

func (a assignment) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(a.Error))
	dst = appendString(dst, a.Leader)
	dst = appendString(dst, a.LeaderURL)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.ConfigOffset))
	byConn := map[string][]int32{}
	for _, c := range a.Connectors {
		byConn[c] = append(byConn[c], connectorTask)
	}
	for _, t := range a.Tasks {
		byConn[t.Connector] = append(byConn[t.Connector], int32(t.Task))
	}
	names := slices.Sorted(maps.Keys(byConn))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(names)))
	for _, n := range names {
		dst = appendString(dst, n)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(byConn[n])))
		for _, id := range byConn[n] {
			dst = binary.BigEndian.AppendUint32(dst, uint32(id))
		}
	}
	return dst
}

// protoReader is a sticky-error decoder: after the first short read every
// call returns a zero value and complete reports the error.
type protoReader struct {
	src []byte
	bad bool
}

func (r *protoReader) take(n int) []byte {
	if r.bad || n < 0 || len(r.src) < n {
		r.bad, r.src = true, nil
		return nil
	}
	b := r.src[:n]
	r.src = r.src[n:]
	return b
}

func (r *protoReader) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *protoReader) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *protoReader) int64() int64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (r *protoReader) string() string {
	n := r.int16()
	if n < 0 { // a null string
		return ""
	}
	return string(r.take(int(n)))
}

// count reads an array length and checks it against the bytes left
// (each element takes at least min bytes) before anyone allocates.
func (r *protoReader) count(min int) int {
	n := r.int32()
	if n < 0 {
		return 0
	}
	if int64(n)*int64(min) > int64(len(r.src)) {
		r.bad, r.src = true, nil
		return 0
	}
	return int(n)
}

func (r *protoReader) complete() error {
	if r.bad {
		return errProtocol
	}
	return nil // later versions append fields; ignore trailing bytes as Kafka does
}

// decodeWorkerState parses JoinGroup metadata (any version ≥ 0: later
// versions only append fields).
func decodeWorkerState(b []byte) (workerState, error) {
	r := &protoReader{src: b}
	if v := r.int16(); v < 0 {
		return workerState{}, fmt.Errorf("%w: version %d", errProtocol, v)
	}
	w := workerState{URL: r.string(), ConfigOffset: r.int64()}
	return w, r.complete()
}

func decodeAssignment(b []byte) (assignment, error) {
	r := &protoReader{src: b}
	if v := r.int16(); v < 0 {
		return assignment{}, fmt.Errorf("%w: version %d", errProtocol, v)
	}
	a := assignment{Error: r.int16(), Leader: r.string(), LeaderURL: r.string(), ConfigOffset: r.int64()}
	n := r.count(6)
	for range n {
		name := r.string()
		m := r.count(4)
		for range m {
			id := r.int32()
			if id == connectorTask {
				a.Connectors = append(a.Connectors, name)
			} else if id >= 0 {
				a.Tasks = append(a.Tasks, TaskID{name, int(id)})
			}
		}
	}
	return a, r.complete()
}

// assignEager spreads connectors, then tasks, round robin over the members
// sorted by id (Kafka's EagerAssignor does the same). tasks gives each
// connector's task count.
func assignEager(members []string, tasks map[string]int) map[string]*assignment {
	out := make(map[string]*assignment, len(members))
	ms := slices.Sorted(slices.Values(members))
	for _, m := range ms {
		out[m] = &assignment{}
	}
	if len(ms) == 0 {
		return out
	}
	names := slices.Sorted(maps.Keys(tasks))
	i := 0
	for _, n := range names {
		out[ms[i%len(ms)]].Connectors = append(out[ms[i%len(ms)]].Connectors, n)
		i++
	}
	for _, n := range names {
		for t := range tasks[n] {
			a := out[ms[i%len(ms)]]
			a.Tasks = append(a.Tasks, TaskID{n, t})
			i++
		}
	}
	return out
}

// shapeOf summarises which connectors and tasks exist; the leader asks for
// a new assignment when it changes.
func shapeOf(tasks map[string]int) string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(tasks)) {
		fmt.Fprintf(&b, "%q:%d,", n, tasks[n])
	}
	return b.String()
}
