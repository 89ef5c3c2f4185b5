package raft

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kavka-io/kavka/internal/vfs"
)

// FuzzWALReplay feeds arbitrary bytes to WAL recovery as the last segment:
// it must repair or refuse, never panic or over-allocate.
func FuzzWALReplay(f *testing.F) {
	w := &wal{}
	w.encodeBase(1, 1)
	w.encodeHardState(hardState(2, 1, 2))
	w.encodeEntries([]*raftpb.Entry{ent(2, 2, "a"), ent(3, 2, "b")})
	f.Add(w.buf)
	f.Add(w.buf[:len(w.buf)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := vfs.NewMem()
		fs.MkdirAll("/r", 0o755)
		file, _ := fs.Create("/r/" + segmentName(1))
		file.Write(b)
		file.Close()
		w, st, err := openWAL(fs, "/r", discard)
		if err != nil {
			return
		}
		defer w.close()
		if len(st.entries) > 0 && st.entries[0].GetIndex() != st.baseIndex+1 {
			t.Fatalf("replayed entries start at %d after base %d", st.entries[0].GetIndex(), st.baseIndex)
		}
		// The repaired segment replays to the same state.
		w.close()
		_, st2, err := openWAL(fs, "/r", discard)
		if err != nil || len(st2.entries) != len(st.entries) {
			t.Fatalf("second replay: %v, %d entries vs %d", err, len(st2.entries), len(st.entries))
		}
	})
}
