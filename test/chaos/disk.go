package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kavka-io/kavka/internal/record"
	"github.com/kavka-io/kavka/internal/vfs"
)

// syncLogEnv makes every node journal its fsyncs (vfs.SyncLog, the
// KAVKA_TEST_SYNCLOG hook of `kavka serve`) next to its data directory, so
// that powerLoss can drop what was not fsynced.
var syncLogEnv = []string{"KAVKA_TEST_SYNCLOG={dir}.synclog"}

// powerLoss SIGKILLs nd and rewrites its data directory to what a power
// loss would have left (vfs.DropUnsynced): un-fsynced bytes and directory
// entries are gone. The node must run with syncLogEnv. It returns what the
// drop changed.
func powerLoss(nd *node) (string, error) {
	nd.kill()
	rep, err := vfs.DropUnsynced(nd.Dir + ".synclog")
	if err != nil {
		return "", fmt.Errorf("node %d: drop un-fsynced data: %w", nd.ID, err)
	}
	return rep, nil
}

// segments returns the segment files of a partition directory, oldest first.
func segments(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(names)
	return names
}

// flipBit flips one bit inside the records of a random batch of a sealed
// segment (not the last) of the partition directory dir, so that the
// batch's header still parses but its CRC32C no longer matches. It returns
// what it did.
func flipBit(dir string, rng *rand.Rand) (string, error) {
	segs := segments(dir)
	if len(segs) < 2 {
		return "", fmt.Errorf("no sealed segment in %s (%d segments)", dir, len(segs))
	}
	name := segs[rng.IntN(len(segs)-1)]
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	type span struct {
		pos, size int
		base      int64
	}
	var batches []span
	for pos := 0; pos+record.HeaderSize <= len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil || h.Size() > len(b)-pos {
			break
		}
		if h.Size() > record.HeaderSize {
			batches = append(batches, span{pos, h.Size(), h.BaseOffset})
		}
		pos += h.Size()
	}
	if len(batches) == 0 {
		return "", fmt.Errorf("no batch with records in %s", name)
	}
	s := batches[rng.IntN(len(batches))]
	at := s.pos + record.HeaderSize + rng.IntN(s.size-record.HeaderSize)
	bit := byte(1) << rng.IntN(8)
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{b[at] ^ bit}, int64(at)); err != nil {
		return "", err
	}
	return fmt.Sprintf("flipped bit %#x at byte %d of %s (batch at offset %d)", bit, at, filepath.Base(name), s.base), nil
}

// damageMetadata deletes, truncates or garbles the rebuildable files of a
// stopped node: in every partition directory of topic the offset, time and
// transaction indexes, producer snapshots and the leader-epoch checkpoint,
// and the data directory's offset checkpoints. It returns what it did.
func damageMetadata(dataDir, topic string, rng *rand.Rand) ([]string, error) {
	var targets []string
	parts, _ := filepath.Glob(filepath.Join(dataDir, topic+"-*"))
	for _, p := range parts {
		for _, pat := range []string{"*.index", "*.timeindex", "*.txnindex", "*.snapshot", "leader-epoch-checkpoint"} {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			targets = append(targets, m...)
		}
	}
	for _, n := range []string{"recovery-point-offset-checkpoint", "replication-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"} {
		if _, err := os.Stat(filepath.Join(dataDir, n)); err == nil {
			targets = append(targets, filepath.Join(dataDir, n))
		}
	}
	sort.Strings(targets)
	var done []string
	for _, f := range targets {
		rel, _ := filepath.Rel(dataDir, f)
		switch k := rng.IntN(4); k {
		case 0:
			if err := os.Remove(f); err != nil {
				return done, err
			}
			done = append(done, "deleted "+rel)
		case 1:
			st, err := os.Stat(f)
			if err != nil {
				return done, err
			}
			if err := os.Truncate(f, st.Size()/2); err != nil {
				return done, err
			}
			done = append(done, fmt.Sprintf("truncated %s to %d bytes", rel, st.Size()/2))
		case 2:
			g := make([]byte, 1+rng.IntN(64))
			for i := range g {
				g[i] = byte(rng.IntN(256))
			}
			if err := os.WriteFile(f, g, 0o644); err != nil {
				return done, err
			}
			done = append(done, fmt.Sprintf("garbled %s (%d random bytes)", rel, len(g)))
		default:
			// Left alone: a mix of damaged and intact files.
		}
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("nothing damaged among %d files: %s", len(targets), strings.Join(targets, " "))
	}
	return done, nil
}
