package metadata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kavka-io/kavka/internal/clock"
	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// Limits that keep a request from exhausting memory.
const (
	// DefaultMaxPartitions caps the partitions of the whole cluster.
	DefaultMaxPartitions = 100_000
	// maxLogBytes caps the metadata log read on Open.
	maxLogBytes = 1 << 30
)

const (
	logDirName   = ClusterMetadataTopic + "-0"
	logFileName  = "records.log"
	metaFileName = "meta.properties"
)

// Options configure a Store.
type Options struct {
	// Self is this broker, as Metadata reports it.
	Self Broker
	// Brokers are the other brokers of a static cluster (tests and
	// in-process clusters sharing one Store, until the raft quorum
	// registers brokers). The image lists them beside Self.
	Brokers []Broker
	// ClusterID, when set, must match the stored one; when the data
	// directory is new it becomes the cluster id. Empty means keep the stored
	// one or generate one.
	ClusterID string
	// Config gives the defaults of new topics (num.partitions,
	// default.replication.factor) and validates topic configs against the
	// broker's log defaults. Nil means config.Defaults().
	Config *config.Broker
	// MaxPartitions caps the total number of partitions; 0 means
	// DefaultMaxPartitions.
	MaxPartitions int
	// Rand is the source of cluster and topic ids; nil means crypto/rand.
	Rand   io.Reader
	Logger *slog.Logger
	Clock  clock.Clock
}

// Store is the durable cluster metadata of a node. It is safe for concurrent
// use.
type Store struct {
	fs   vfs.FS
	dir  string // <data-dir>/__cluster_metadata-0
	opts Options

	image atomic.Pointer[Image]

	// Cluster mode (OpenReplicated); immutable after SetQuorum.
	replicated bool
	qopts      QuorumOptions
	q          Quorum
	fwd        Forwarder

	mu sync.Mutex
	// The fields below are guarded by mu, which serializes mutations (and,
	// in cluster mode, proposals: one batch in flight).
	f      vfs.File
	size   int64 // bytes of the log known good
	failed error // set when a write could not be undone; every later mutation fails
	closed bool
	ctl    ctlState // cluster mode: the active controller's state

	// pubMu serializes publishing images and running subscribers (by
	// commitLocked in single-node mode, by ApplyCommitted in cluster mode,
	// on the log's goroutine). Lock order: mu, then pubMu.
	pubMu sync.Mutex
	subs  []func(prev, next *Image) // guarded by pubMu
}

// Open opens (creating if needed) the metadata under dataDir and replays it.
func Open(fsys vfs.FS, dataDir string, opts Options) (*Store, error) {
	fillOptions(&opts)
	s := &Store{fs: fsys, dir: fsys.PathJoin(dataDir, logDirName), opts: opts}
	if err := fsys.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir: %w", err)
	}
	// MkdirAll may have made every directory down from the first missing
	// one; make their entries durable, deepest last.
	if err := syncParents(fsys, dataDir); err != nil {
		return nil, err
	}
	clusterID, err := s.loadMeta(dataDir)
	if err != nil {
		return nil, err
	}
	im, err := s.replay(emptyImage(clusterID, opts.Self, opts.Brokers))
	if err != nil {
		return nil, err
	}
	s.image.Store(im)
	opts.Logger.Info("metadata loaded", "cluster", clusterID, "topics", len(im.Topics), "partitions", im.partitions)
	return s, nil
}

// Image returns the current image. It never blocks.
func (s *Store) Image() *Image { return s.image.Load() }

// Subscribe registers fn to run after each committed change, synchronously
// and in commit order, before the mutating call returns, with the images
// before and after. fn cannot fail and must not call the Store's mutating
// methods (the store's lock is held); it should be quick. Subscribe returns
// the current image: the prev of fn's first call.
func (s *Store) Subscribe(fn func(prev, next *Image)) *Image {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.subs = append(s.subs, fn)
	return s.image.Load()
}

// Close closes the log file. Later mutations fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close metadata log: %w", err)
	}
	return nil
}

// commit makes recs durable and publishes the image they produce. With
// validateOnly it only checks that they apply. s.mu must be held.
func (s *Store) commitLocked(recs []record, validateOnly bool) (*Image, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.failed != nil {
		return nil, s.failed
	}
	if s.replicated && !validateOnly {
		if err := s.activeLocked(false); err != nil {
			return nil, err
		}
		return s.proposeLocked(recs)
	}
	prev := s.image.Load()
	b := newBuilder(prev)
	for i := range recs {
		if err := b.apply(&recs[i]); err != nil {
			panic(fmt.Sprintf("BUG: validated metadata record does not apply: %v", err))
		}
	}
	next := b.finish()
	if validateOnly || len(recs) == 0 {
		return next, nil
	}
	line, err := encodeLine(recs)
	if err != nil {
		return nil, err
	}
	if _, err = s.f.Write(line); err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("write metadata log: %w", err)
		// Undo a partial write so that the next batch starts on a line.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.failed = fmt.Errorf("metadata log unusable after %w (truncate: %v)", err, terr)
		}
		return nil, err
	}
	s.size += int64(len(line))
	s.pubMu.Lock()
	s.publishLocked(prev, next)
	s.pubMu.Unlock()
	return next, nil
}

// encodeLine encodes one batch of records as a log line.
func encodeLine(recs []record) ([]byte, error) {
	body, err := json.Marshal(batch{Records: recs})
	if err != nil {
		return nil, fmt.Errorf("encode metadata records: %w", err)
	}
	line := make([]byte, 0, len(body)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(body, castagnoli))
	line = append(line, body...)
	return append(line, '\n'), nil
}

type batch struct {
	Records []record `json:"records"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// replay reads the log, cuts a torn tail, and rewrites the log as a snapshot
// when it holds mostly dead records. It leaves s.f open for appending.
func (s *Store) replay(im *Image) (*Image, error) {
	path := s.fs.PathJoin(s.dir, logFileName)
	f, err := s.fs.OpenAppend(path)
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = s.fs.Create(path); err == nil {
			err = syncDir(s.fs, s.dir)
		}
		if err != nil {
			return nil, fmt.Errorf("create metadata log: %w", err)
		}
		s.f = f
		return im, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata log: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat metadata log: %w", err)
	}
	if size > maxLogBytes {
		f.Close()
		return nil, fmt.Errorf("metadata log %s: %d bytes, more than %d", path, size, maxLogBytes)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("read metadata log: %w", err)
	}
	b := newBuilder(im)
	good, nrec := 0, 0
	for rest := data; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		var recs []record
		var perr error
		if i < 0 {
			perr = errors.New("no end of line")
		} else {
			recs, perr = decodeLine(rest[:i])
		}
		if perr != nil {
			if hasValidLine(rest) {
				f.Close()
				return nil, fmt.Errorf("metadata log %s: corrupt batch at byte %d: %v", path, good, perr)
			}
			s.opts.Logger.Warn("metadata log: cutting torn tail", "offset", good, "bytes", len(rest), "err", perr)
			if err = f.Truncate(int64(good)); err == nil {
				err = f.Sync()
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("truncate metadata log: %w", err)
			}
			break
		}
		for j := range recs {
			if err := b.apply(&recs[j]); err != nil {
				f.Close()
				return nil, fmt.Errorf("metadata log %s: batch at byte %d: %w", path, good, err)
			}
		}
		nrec += len(recs)
		good += i + 1
		rest = rest[i+1:]
	}
	im = b.finish()
	s.f, s.size = f, int64(good)
	if live := len(snapshotRecords(im)); nrec > 1000 && nrec > 2*live {
		if err := s.rewrite(im); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// hasValidLine reports whether any complete line after the first of b
// decodes: then a bad first line is corruption, not a torn write.
func hasValidLine(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	for i >= 0 {
		b = b[i+1:]
		j := bytes.IndexByte(b, '\n')
		if j < 0 {
			return false
		}
		if _, err := decodeLine(b[:j]); err == nil {
			return true
		}
		i = j
	}
	return false
}

func decodeLine(line []byte) ([]record, error) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, errors.New("malformed line")
	}
	want, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return nil, errors.New("malformed checksum")
	}
	body := line[9:]
	if got := crc32.Checksum(body, castagnoli); got != uint32(want) {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, want)
	}
	var bt batch
	if err := json.Unmarshal(body, &bt); err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	return bt.Records, nil
}

// rewrite replaces the log with a snapshot of im. s.f is the old log.
func (s *Store) rewrite(im *Image) error {
	path := s.fs.PathJoin(s.dir, logFileName)
	tmp := path + ".tmp"
	var line []byte
	if recs := snapshotRecords(im); len(recs) > 0 {
		var err error
		if line, err = encodeLine(recs); err != nil {
			return err
		}
	}
	if err := writeFileSync(s.fs, tmp, line); err != nil {
		return err
	}
	if err := s.fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("install metadata snapshot: %w", err)
	}
	if err := syncDir(s.fs, s.dir); err != nil {
		return err
	}
	s.f.Close()
	f, err := s.fs.OpenAppend(path)
	if err != nil {
		return fmt.Errorf("reopen metadata log: %w", err)
	}
	s.f, s.size = f, int64(len(line))
	return nil
}

// loadMeta reads meta.properties, or writes it on first start, and returns
// the cluster id.
func (s *Store) loadMeta(dataDir string) (string, error) {
	path := s.fs.PathJoin(dataDir, metaFileName)
	f, err := s.fs.Open(path)
	if err == nil {
		defer f.Close()
		size, err := f.Size()
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", path, err)
		}
		props, err := config.ParseProperties(io.NewSectionReader(f, 0, min(size, 1<<20)))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		id := props["cluster.id"]
		if id == "" {
			return "", fmt.Errorf("%s: no cluster.id", path)
		}
		if s.opts.ClusterID != "" && s.opts.ClusterID != id {
			return "", fmt.Errorf("%w: configured %s, stored %s in %s", ErrInconsistentClusterID, s.opts.ClusterID, id, path)
		}
		if n, ok := props["node.id"]; ok && n != strconv.Itoa(int(s.opts.Self.NodeID)) {
			return "", fmt.Errorf("%s: stored node.id %s, configured %d", path, n, s.opts.Self.NodeID)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	id := s.opts.ClusterID
	if id == "" {
		var u [16]byte
		if _, err := io.ReadFull(s.opts.Rand, u[:]); err != nil {
			return "", fmt.Errorf("generate cluster id: %w", err)
		}
		id = base64.RawURLEncoding.EncodeToString(u[:])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#\n#Written by kavka\nversion=1\ncluster.id=%s\nnode.id=%d\n", id, s.opts.Self.NodeID)
	tmp := path + ".tmp"
	if err := writeFileSync(s.fs, tmp, []byte(b.String())); err != nil {
		return "", err
	}
	if err := s.fs.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("install %s: %w", path, err)
	}
	return id, syncDir(s.fs, dataDir)
}

func writeFileSync(fsys vfs.FS, path string, data []byte) error {
	f, err := fsys.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncParents syncs dir and each of its ancestors.
func syncParents(fsys vfs.FS, dir string) error {
	dirs := []string{}
	for d := filepath.Clean(dir); len(dirs) < 256; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if p := filepath.Dir(d); p == d {
			break
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(fsys, dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
