package metadata

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/vfs"
)

// seeded is a deterministic id source.
type seeded struct{ r *rand.Rand }

func (s seeded) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func newRand(seed uint64) seeded { return seeded{rand.New(rand.NewPCG(seed, 0))} }

var self = Broker{NodeID: 1, Host: "127.0.0.1", Port: 9092}

func open(t *testing.T, fsys vfs.FS, opts Options) *Store {
	t.Helper()
	if opts.Self.NodeID == 0 {
		opts.Self = self
	}
	if opts.Rand == nil {
		opts.Rand = newRand(1)
	}
	s, err := Open(fsys, "/data", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t *testing.T, s *Store, name string, parts int32, configs map[string]string) *Topic {
	t.Helper()
	tp, err := s.CreateTopic(CreateTopicRequest{Name: name, Partitions: parts, ReplicationFactor: -1, Configs: configs}, false)
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return tp
}

// imageOpts compares images ignoring unexported caches except through methods.
var imageOpts = cmp.Options{cmpopts.IgnoreUnexported(Image{}), cmpopts.EquateEmpty()}

func TestCreateTopicAndReopen(t *testing.T) {
	fsys := vfs.NewMem()
	s := open(t, fsys, Options{})
	var events []string
	s.Subscribe(func(prev, next *Image) {
		events = append(events, strings.Join(next.TopicNames(), ","))
	})
	a := mustCreate(t, s, "a", 3, map[string]string{"cleanup.policy": "compact"})
	if len(a.Partitions) != 3 || a.Partitions[2].Index != 2 || a.Partitions[2].Leader != 1 || a.ID == ([16]byte{}) {
		t.Errorf("created topic = %+v", a)
	}
	mustCreate(t, s, "b", -1, nil)
	if _, err := s.CreatePartitions("b", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs("a", map[string]string{"retention.ms": "1000"}, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "c", 1, nil)
	if err := s.DeleteTopic("c"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "a,b", "a,b", "a,b", "a,b,c", "a,b"}, events); diff != "" {
		t.Errorf("subscriber events (-want +got):\n%s", diff)
	}
	im := s.Image()
	if got := im.Topics["a"].Configs; !cmp.Equal(got, map[string]string{"retention.ms": "1000"}) {
		t.Errorf("a configs = %v", got)
	}
	if im.NumPartitions() != 7 {
		t.Errorf("NumPartitions = %d, want 7", im.NumPartitions())
	}
	s.Close()

	// Only what was synced survives a crash; every call synced.
	crashed := fsys.CrashClone()
	s2 := open(t, crashed, Options{})
	if diff := cmp.Diff(im, s2.Image(), imageOpts); diff != "" {
		t.Errorf("image after reopen (-want +got):\n%s", diff)
	}
	if im.ClusterID == "" || s2.Image().ClusterID != im.ClusterID {
		t.Errorf("cluster id %q, after reopen %q", im.ClusterID, s2.Image().ClusterID)
	}
	if got := s2.Image().TopicNames(); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("TopicNames after reopen = %v", got)
	}
	if s2.Image().NumPartitions() != 7 {
		t.Errorf("NumPartitions after reopen = %d", s2.Image().NumPartitions())
	}
}

func TestImagesAreImmutable(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	mustCreate(t, s, "a", 1, map[string]string{"retention.ms": "5"})
	before := s.Image()
	if _, err := s.CreatePartitions("a", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs("a", nil, false); err != nil {
		t.Fatal(err)
	}
	if len(before.Topics["a"].Partitions) != 1 || before.Topics["a"].Configs["retention.ms"] != "5" {
		t.Errorf("old image changed: %+v", before.Topics["a"])
	}
	after := s.Image().Topics["a"]
	if len(after.Partitions) != 2 || len(after.Configs) != 0 {
		t.Errorf("new image: %+v", after)
	}
}

func TestClusterID(t *testing.T) {
	fsys := vfs.NewMem()
	s := open(t, fsys, Options{ClusterID: "my-cluster"})
	if s.Image().ClusterID != "my-cluster" {
		t.Errorf("ClusterID = %q", s.Image().ClusterID)
	}
	s.Close()
	if _, err := Open(fsys, "/data", Options{Self: self, ClusterID: "other"}); !errors.Is(err, ErrInconsistentClusterID) {
		t.Errorf("Open with another cluster id = %v, want ErrInconsistentClusterID", err)
	}
	if _, err := Open(fsys, "/data", Options{Self: Broker{NodeID: 2}}); err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Errorf("Open with another node id = %v", err)
	}
	s2 := open(t, fsys, Options{})
	if s2.Image().ClusterID != "my-cluster" {
		t.Errorf("ClusterID after reopen = %q", s2.Image().ClusterID)
	}
	// A generated id has Kafka's form: 22 characters of URL-safe base64.
	s3 := open(t, vfs.NewMem(), Options{})
	if id := s3.Image().ClusterID; len(id) != 22 {
		t.Errorf("generated cluster id %q", id)
	}
}

func TestTornTail(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		fsys := vfs.NewMem()
		s := open(t, fsys, Options{})
		mustCreate(t, s, "a", 2, nil)
		im := s.Image()
		// Append garbage that was never acknowledged: a partial line.
		f, err := fsys.OpenAppend("/data/__cluster_metadata-0/records.log")
		if err != nil {
			t.Fatal(err)
		}
		line, _ := encodeLine([]record{{Type: recTopic, Name: "b", TopicID: uuid{9}}})
		cut := 1 + int(seed)%(len(line)-1)
		f.Write(line[:cut])
		f.Sync()
		f.Close()
		s.Close()
		s2 := open(t, fsys, Options{})
		if diff := cmp.Diff(im, s2.Image(), imageOpts); diff != "" {
			t.Fatalf("seed %d: image after torn tail (-want +got):\n%s", seed, diff)
		}
		mustCreate(t, s2, "c", 1, nil) // appends after the cut
		s2.Close()
		s3 := open(t, fsys, Options{})
		if got := s3.Image().TopicNames(); !cmp.Equal(got, []string{"a", "c"}) {
			t.Fatalf("seed %d: topics = %v", seed, got)
		}
		s3.Close()
	}
}

func TestCrashTorn(t *testing.T) {
	// A torn crash keeps a random prefix of unsynced bytes; all our bytes
	// are synced before the calls return, so everything survives.
	for seed := uint64(0); seed < 10; seed++ {
		fsys := vfs.NewMem()
		s := open(t, fsys, Options{})
		for i := range 5 {
			mustCreate(t, s, string(rune('a'+i)), 1, nil)
		}
		want := s.Image()
		crashed := fsys.CrashCloneTorn(rand.New(rand.NewPCG(seed, 1)))
		s2 := open(t, crashed, Options{})
		if diff := cmp.Diff(want, s2.Image(), imageOpts); diff != "" {
			t.Fatalf("seed %d (-want +got):\n%s", seed, diff)
		}
	}
}

func TestCorruptMiddle(t *testing.T) {
	fsys := vfs.NewMem()
	s := open(t, fsys, Options{})
	mustCreate(t, s, "a", 1, nil)
	mustCreate(t, s, "b", 1, nil)
	s.Close()
	f, _ := fsys.Open("/data/__cluster_metadata-0/records.log")
	size, _ := f.Size()
	data := make([]byte, size)
	f.ReadAt(data, 0)
	f.Close()
	data[12] ^= 0xff // inside the first line's JSON
	w, _ := fsys.Create("/data/__cluster_metadata-0/records.log")
	w.Write(data)
	w.Sync()
	w.Close()
	if _, err := Open(fsys, "/data", Options{Self: self}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Open with corrupt middle batch = %v", err)
	}
}

func TestSnapshotRewrite(t *testing.T) {
	fsys := vfs.NewMem()
	s := open(t, fsys, Options{})
	mustCreate(t, s, "keep", 2, map[string]string{"retention.ms": "7"})
	for range 600 {
		mustCreate(t, s, "tmp", 1, nil)
		if err := s.DeleteTopic("tmp"); err != nil {
			t.Fatal(err)
		}
	}
	want := s.Image()
	s.Close()
	s2 := open(t, fsys, Options{})
	if diff := cmp.Diff(want, s2.Image(), imageOpts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	st, err := fsys.Stat("/data/__cluster_metadata-0/records.log")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1000 {
		t.Errorf("log is %d bytes after the snapshot rewrite", st.Size())
	}
	mustCreate(t, s2, "more", 1, nil)
	s2.Close()
	s3 := open(t, fsys.CrashClone(), Options{})
	if got := s3.Image().TopicNames(); !cmp.Equal(got, []string{"keep", "more"}) {
		t.Errorf("topics = %v", got)
	}
}

func TestCreateTopicErrors(t *testing.T) {
	cfg := config.Defaults()
	s := open(t, vfs.NewMem(), Options{Config: &cfg, MaxPartitions: 100})
	mustCreate(t, s, "exists", 1, nil)
	mustCreate(t, s, "with.dot", 1, nil)
	f := func(req CreateTopicRequest, kind error, msg string) {
		t.Helper()
		_, err := s.CreateTopic(req, false)
		if !errors.Is(err, kind) || !strings.Contains(err.Error(), msg) {
			t.Errorf("CreateTopic(%+v) = %v, want %v containing %q", req, err, kind, msg)
		}
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("CreateTopic(%+v): error %T is not *Error", req, err)
		}
	}
	ct := func(name string) CreateTopicRequest {
		return CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1}
	}
	f(ct(""), ErrInvalidTopic, "can't be empty")
	f(ct("."), ErrInvalidTopic, `cannot be "." or ".."`)
	f(ct(".."), ErrInvalidTopic, `cannot be "." or ".."`)
	f(ct(strings.Repeat("x", 250)), ErrInvalidTopic, "longer than 249")
	f(ct("a b"), ErrInvalidTopic, "character other than")
	f(ct("ü"), ErrInvalidTopic, "character other than")
	f(ct("__cluster_metadata"), ErrInvalidTopic, "reserved")
	f(ct("exists"), ErrTopicExists, "already exists")
	f(ct("with_dot"), ErrInvalidTopic, "collides with existing topic: with.dot")
	f(CreateTopicRequest{Name: "p0", Partitions: 0, ReplicationFactor: -1}, ErrInvalidPartitions, "non-positive")
	f(CreateTopicRequest{Name: "p-2", Partitions: -2, ReplicationFactor: -1}, ErrInvalidPartitions, "non-positive")
	f(CreateTopicRequest{Name: "huge", Partitions: 1 << 30, ReplicationFactor: -1}, ErrPolicyViolation, "limit of 100")
	f(CreateTopicRequest{Name: "rf0", Partitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor, "larger than 0")
	f(CreateTopicRequest{Name: "rf3", Partitions: 1, ReplicationFactor: 3}, ErrInvalidReplicationFactor, "only 1 broker(s)")
	f(CreateTopicRequest{Name: "both", Partitions: 1, ReplicationFactor: -1, Assignment: map[int32][]int32{0: {1}}}, ErrInvalidRequest, "Both")
	asg := func(a map[int32][]int32) CreateTopicRequest {
		return CreateTopicRequest{Name: "asg", Partitions: -1, ReplicationFactor: -1, Assignment: a}
	}
	f(asg(map[int32][]int32{0: {}}), ErrInvalidReplicaAssignment, "empty replica list")
	f(asg(map[int32][]int32{0: {1, 1}}), ErrInvalidReplicaAssignment, "more than once")
	f(asg(map[int32][]int32{0: {7}}), ErrInvalidReplicaAssignment, "broker 7")
	f(asg(map[int32][]int32{1: {1}}), ErrInvalidReplicaAssignment, "numbered 0 to 0")
	f(asg(map[int32][]int32{0: {1}, 5: {1}}), ErrInvalidReplicaAssignment, "numbered 0 to 1")
	cfgReq := func(k, v string) CreateTopicRequest {
		r := ct("cfg")
		r.Configs = map[string]string{k: v}
		return r
	}
	f(cfgReq("retention.ms", "x"), ErrInvalidConfig, "Invalid value x for configuration retention.ms")
	f(cfgReq("nope", "1"), ErrInvalidConfig, "Unknown topic config name: nope")
	if got := s.Image().TopicNames(); !cmp.Equal(got, []string{"exists", "with.dot"}) {
		t.Errorf("failed creates left topics: %v", got)
	}
}

func TestValidateOnly(t *testing.T) {
	fsys := vfs.NewMem()
	s := open(t, fsys, Options{})
	calls := 0
	s.Subscribe(func(prev, next *Image) { calls++ })
	tp, err := s.CreateTopic(CreateTopicRequest{Name: "v", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"segment.bytes": "1024"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.Partitions) != 3 || tp.Configs["segment.bytes"] != "1024" {
		t.Errorf("validate-only topic = %+v", tp)
	}
	mustCreate(t, s, "a", 1, nil)
	if _, err := s.CreatePartitions("a", 5, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs("a", map[string]string{"retention.ms": "1"}, true); err != nil {
		t.Fatal(err)
	}
	im := s.Image()
	if im.Topics["v"] != nil || len(im.Topics["a"].Partitions) != 1 || len(im.Topics["a"].Configs) != 0 || calls != 1 {
		t.Errorf("validate-only changed state: %+v, %d subscriber calls", im.Topics, calls)
	}
}

func TestCreatePartitionsAndConfigs(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{MaxPartitions: 10})
	mustCreate(t, s, "a", 2, nil)
	f := func(total int32, asg [][]int32, kind error, msg string) {
		t.Helper()
		_, err := s.CreatePartitions("a", total, asg, false)
		if kind == nil {
			if err != nil {
				t.Errorf("CreatePartitions(%d, %v) = %v", total, asg, err)
			}
			return
		}
		if !errors.Is(err, kind) || !strings.Contains(err.Error(), msg) {
			t.Errorf("CreatePartitions(%d, %v) = %v, want %v containing %q", total, asg, err, kind, msg)
		}
	}
	f(1, nil, ErrInvalidPartitions, "higher than the requested 1")
	f(2, nil, ErrInvalidPartitions, "already has 2")
	f(11, nil, ErrPolicyViolation, "limit of 10")
	f(4, [][]int32{{1}}, ErrInvalidReplicaAssignment, "only 1 assignment")
	f(3, [][]int32{{1, 1}}, ErrInvalidReplicaAssignment, "2 replica(s)")
	f(3, [][]int32{{2}}, ErrInvalidReplicaAssignment, "broker 2")
	f(3, [][]int32{{1}}, nil, "")
	f(4, nil, nil, "")
	if _, err := s.CreatePartitions("zz", 4, nil, false); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("CreatePartitions(unknown) = %v", err)
	}
	if n := len(s.Image().Topics["a"].Partitions); n != 4 {
		t.Errorf("partitions = %d", n)
	}
	if err := s.SetTopicConfigs("a", map[string]string{"min.compaction.lag.ms": "9", "max.compaction.lag.ms": "3"}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("conflicting configs = %v", err)
	}
	if err := s.SetTopicConfigs("zz", nil, false); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("SetTopicConfigs(unknown) = %v", err)
	}
	if err := s.DeleteTopic("zz"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("DeleteTopic(unknown) = %v", err)
	}
	id := s.Image().Topics["a"].ID
	if name, err := s.DeleteTopicByID(id); err != nil || name != "a" {
		t.Errorf("DeleteTopicByID = %q, %v", name, err)
	}
	if _, err := s.DeleteTopicByID(id); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("DeleteTopicByID twice = %v", err)
	}
	if s.Image().NumPartitions() != 0 || len(s.Image().TopicsByID) != 0 {
		t.Errorf("image after delete: %+v", s.Image())
	}
}

func TestInternalTopics(t *testing.T) {
	s := open(t, vfs.NewMem(), Options{})
	tp := mustCreate(t, s, ConsumerOffsetsTopic, 3, nil)
	if !tp.Internal {
		t.Error("__consumer_offsets not internal")
	}
	if mustCreate(t, s, "__other", 1, nil).Internal {
		t.Error("__other internal")
	}
}
