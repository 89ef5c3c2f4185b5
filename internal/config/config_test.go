package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaults(t *testing.T) {
	b := Defaults()
	f := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	f("NodeID", b.NodeID, int32(1))
	f("Listen", b.Listen, "127.0.0.1:9092")
	f("AdvertisedListener", b.AdvertisedListener, "127.0.0.1:9092")
	f("DataDir", b.DataDir, "./kavka-data")
	f("NumPartitions", b.NumPartitions, int32(1))
	f("DefaultReplicationFactor", b.DefaultReplicationFactor, int16(1))
	f("AutoCreateTopics", b.AutoCreateTopics, true)
	f("SocketRequestMaxBytes", b.SocketRequestMaxBytes, int32(104857600))
	f("ConnectionsMaxIdleMs", b.ConnectionsMaxIdleMs, int64(600000))
	f("MessageMaxBytes", b.MessageMaxBytes, int32(1048588))
	f("ClusterID", b.ClusterID, "")
	want := Topic{
		SegmentBytes: 1 << 30, SegmentMs: 7 * 24 * 3600 * 1000, SegmentIndexBytes: 10 << 20,
		IndexIntervalBytes: 4096, RetentionMs: 604800000, RetentionBytes: -1, CleanupDelete: true,
		DeleteRetentionMs: 86400000, MaxCompactionLagMs: 1<<63 - 1, MinCleanableDirtyRatio: 0.5,
		MaxMessageBytes: 1048588, TimestampDifferenceMaxMs: 1<<63 - 1, TimestampBeforeMaxMs: 1<<63 - 1,
		TimestampAfterMaxMs: 3600000, FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1, SyncOnAck: true,
		FileDeleteDelayMs: 60000, CompressionType: "producer", MinInsyncReplicas: 1,
	}
	if diff := cmp.Diff(want, b.Log); diff != "" {
		t.Errorf("Log (-want +got):\n%s", diff)
	}
}

func TestBrokerSet(t *testing.T) {
	f := func(kv []string, check func(b *Broker) string, wantErr string) {
		t.Helper()
		b := Defaults()
		var err error
		for i := 0; i+1 < len(kv) && err == nil; i += 2 {
			err = b.Set(kv[i], kv[i+1])
		}
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Set(%v) = %v, want error containing %q", kv, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("Set(%v) = %v", kv, err)
			return
		}
		if msg := check(&b); msg != "" {
			t.Errorf("Set(%v): %s", kv, msg)
		}
	}
	ok := func(cond bool, msg string) string {
		if cond {
			return ""
		}
		return msg
	}
	f([]string{"listeners", "PLAINTEXT://0.0.0.0:19092"}, func(b *Broker) string {
		return ok(b.Listen == "0.0.0.0:19092" && b.AdvertisedListener == "0.0.0.0:19092", b.Listen+" "+b.AdvertisedListener)
	}, "")
	f([]string{"listeners", "localhost:1", "advertised.listeners", "PLAINTEXT://kafka.example:9093"}, func(b *Broker) string {
		h, p := b.AdvertisedHostPort()
		return ok(b.Listen == "localhost:1" && h == "kafka.example" && p == 9093, b.AdvertisedListener)
	}, "")
	f([]string{"listeners", "PLAINTEXT://:9092"}, func(b *Broker) string {
		h, p := b.AdvertisedHostPort()
		return ok(h == "127.0.0.1" && p == 9092, h)
	}, "")
	f([]string{"log.dir", "/a", "log.dirs", "/b"}, func(b *Broker) string { return ok(b.DataDir == "/b", b.DataDir) }, "")
	f([]string{"log.dirs", "/b", "log.dir", "/a"}, func(b *Broker) string { return ok(b.DataDir == "/b", b.DataDir) }, "")
	f([]string{"log.dir", "/a"}, func(b *Broker) string { return ok(b.DataDir == "/a", b.DataDir) }, "")
	f([]string{"num.partitions", " 3 ", "auto.create.topics.enable", "FALSE"}, func(b *Broker) string {
		return ok(b.NumPartitions == 3 && !b.AutoCreateTopics, "")
	}, "")
	// Retention precedence: ms > minutes > hours.
	f([]string{"log.retention.hours", "1"}, func(b *Broker) string { return ok(b.Log.RetentionMs == 3600000, "") }, "")
	f([]string{"log.retention.hours", "1", "log.retention.minutes", "2"}, func(b *Broker) string { return ok(b.Log.RetentionMs == 120000, "") }, "")
	f([]string{"log.retention.ms", "5", "log.retention.hours", "1", "log.retention.minutes", "2"}, func(b *Broker) string { return ok(b.Log.RetentionMs == 5, "") }, "")
	f([]string{"log.retention.hours", "-1"}, func(b *Broker) string { return ok(b.Log.RetentionMs == -1, "") }, "")
	f([]string{"log.roll.hours", "2"}, func(b *Broker) string { return ok(b.Log.SegmentMs == 7200000, "") }, "")
	f([]string{"log.roll.ms", "10", "log.roll.hours", "2"}, func(b *Broker) string { return ok(b.Log.SegmentMs == 10, "") }, "")
	f([]string{"log.cleanup.policy", "compact, delete"}, func(b *Broker) string { return ok(b.Log.CleanupCompact && b.Log.CleanupDelete, "") }, "")
	f([]string{"log.flush.interval.messages", "1"}, func(b *Broker) string { return ok(!b.Log.SyncOnAck && b.Log.FlushMessages == 1, "") }, "")
	f([]string{"message.max.bytes", "100"}, func(b *Broker) string { return ok(b.Log.MaxMessageBytes == 100, "") }, "")

	f([]string{"no.such.key", "1"}, nil, "Unknown broker config name: no.such.key")
	f([]string{"num.partitions", "x"}, nil, "Invalid value x for configuration num.partitions: Not a number of type INT")
	f([]string{"num.partitions", "0"}, nil, "Invalid value 0 for configuration num.partitions: Value must be at least 1")
	f([]string{"num.partitions", "99999999999"}, nil, "Not a number of type INT")
	f([]string{"auto.create.topics.enable", "yes"}, nil, "Expected value to be either true or false")
	f([]string{"listeners", "nonsense"}, nil, "configuration listeners")
	f([]string{"log.dirs", "/a,/b"}, nil, "one data directory")
	f([]string{"log.cleanup.policy", "compact,bogus"}, nil, "String must be one of: compact, delete")
	f([]string{"log.cleaner.min.cleanable.ratio", "1.5"}, nil, "Value must be no more than 1")
	f([]string{"log.cleaner.min.compaction.lag.ms", "100", "log.cleaner.max.compaction.lag.ms", "10"}, nil, "conflict topic config")
}

func TestSetIsAtomic(t *testing.T) {
	b := Defaults()
	if err := b.Set("log.cleaner.max.compaction.lag.ms", "10"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("log.cleaner.min.compaction.lag.ms", "100"); err == nil {
		t.Fatal("conflicting lag accepted")
	}
	if b.Log.MinCompactionLagMs != 0 {
		t.Errorf("MinCompactionLagMs = %d after a rejected Set", b.Log.MinCompactionLagMs)
	}
	if _, ok := b.IsSet("log.cleaner.min.compaction.lag.ms"); ok {
		t.Error("rejected key is recorded as set")
	}
}

func TestValidateTopicConfig(t *testing.T) {
	f := func(name, value, wantErr string) {
		t.Helper()
		err := ValidateTopicConfig(name, value)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("ValidateTopicConfig(%s, %q) = %v", name, value, err)
		case wantErr != "" && (err == nil || err.Error() != wantErr):
			t.Errorf("ValidateTopicConfig(%s, %q) = %v, want %q", name, value, err, wantErr)
		}
	}
	f("retention.ms", "-1", "")
	f("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1")
	f("retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG")
	f("segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: Value must be at least 14")
	f("segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT")
	f("cleanup.policy", "compact,delete", "")
	f("cleanup.policy", "", "Invalid value  for configuration cleanup.policy: Empty list")
	f("cleanup.policy", "zap", "Invalid value zap for configuration cleanup.policy: String must be one of: compact, delete")
	f("compression.type", "zstd", "")
	f("compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
	f("message.timestamp.type", "LogAppendTime", "")
	f("message.timestamp.type", "logappendtime", "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime")
	f("min.cleanable.dirty.ratio", "0.1", "")
	f("min.cleanable.dirty.ratio", "NaN", "Invalid value NaN for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE")
	f("preallocate", "true", "")
	f("min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1")
	f("bogus", "1", "Unknown topic config name: bogus")
	f("log.retention.ms", "1", "Unknown topic config name: log.retention.ms")
}

func TestResolveTopic(t *testing.T) {
	b := Defaults()
	if err := b.Set("log.retention.hours", "1"); err != nil {
		t.Fatal(err)
	}
	tc, err := b.ResolveTopic(map[string]string{"segment.bytes": "1024", "cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime", "flush.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.SegmentBytes != 1024 || !tc.CleanupCompact || tc.CleanupDelete || !tc.LogAppendTime || tc.RetentionMs != 3600000 || tc.SyncOnAck || tc.FlushMs != 1000 {
		t.Errorf("ResolveTopic = %+v", tc)
	}
	if _, err := b.ResolveTopic(map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}); err == nil {
		t.Error("min > max compaction lag accepted")
	}
	if _, err := b.ResolveTopic(map[string]string{"segment.bytes": "x"}); err == nil {
		t.Error("bad segment.bytes accepted")
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n" +
		"  ! another comment\n" +
		"\n" +
		"node.id=2\n" +
		"listeners = PLAINTEXT://:9092\n" +
		"log.dirs: /var/lib/kavka\n" +
		"num.partitions 3\n" +
		"long.value=a,\\\n" +
		"    b,\\\n" +
		"    c\n" +
		"esc\\=key=tab\\there\\u0041\\\\\n" +
		"crlf=1\r\n" +
		"empty=\n" +
		"node.id=4\n" +
		"odd=ends\\\\\n" +
		"trailing=x\\"
	got, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"node.id": "4", "listeners": "PLAINTEXT://:9092", "log.dirs": "/var/lib/kavka", "num.partitions": "3",
		"long.value": "a,b,c", "esc=key": "tab\there" + "A\\", "crlf": "1", "empty": "", "odd": "ends\\", "trailing": "x",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseProperties (-want +got):\n%s", diff)
	}
	if _, err := ParseProperties(strings.NewReader("a=\\u12")); err == nil {
		t.Error("malformed \\u escape accepted")
	}
	b := Defaults()
	if err := b.SetAll(map[string]string{"node.id": "4", "log.dirs": "/d", "num.partitions": "3"}); err != nil {
		t.Fatal(err)
	}
	if b.NodeID != 4 || b.DataDir != "/d" || b.NumPartitions != 3 {
		t.Errorf("SetAll: %+v", b)
	}
	if err := b.SetAll(map[string]string{"x": "1", "num.partitions": "-1"}); err == nil || !strings.Contains(err.Error(), "x") || !strings.Contains(err.Error(), "num.partitions") {
		t.Errorf("SetAll bad keys = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	b := Defaults()
	if err := b.Set("log.retention.minutes", "30"); err != nil {
		t.Fatal(err)
	}
	find := func(es []Entry, name string) Entry {
		for _, e := range es {
			if e.Name == name {
				return e
			}
		}
		t.Fatalf("no entry %s", name)
		return Entry{}
	}
	s := func(v string) *string { return &v }
	topic := b.DescribeTopic(map[string]string{"segment.bytes": "2048"})
	if len(topic) != len(TopicDefs()) {
		t.Errorf("DescribeTopic: %d entries, want %d", len(topic), len(TopicDefs()))
	}
	f := func(got, want Entry) {
		t.Helper()
		got.Doc = ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Name, diff)
		}
	}
	f(find(topic, "retention.ms"), Entry{Name: "retention.ms", Value: s("1800000"), Source: SourceStaticBrokerConfig, Type: TypeLong,
		Synonyms: []SynonymEntry{{"log.retention.minutes", s("30"), SourceStaticBrokerConfig}, {"log.retention.hours", s("168"), SourceDefaultConfig}}})
	f(find(topic, "segment.bytes"), Entry{Name: "segment.bytes", Value: s("2048"), Source: SourceDynamicTopicConfig, Type: TypeInt,
		Synonyms: []SynonymEntry{{"segment.bytes", s("2048"), SourceDynamicTopicConfig}, {"log.segment.bytes", s("1073741824"), SourceDefaultConfig}}})
	f(find(topic, "cleanup.policy"), Entry{Name: "cleanup.policy", Value: s("delete"), Source: SourceDefaultConfig, Type: TypeList,
		Synonyms: []SynonymEntry{{"log.cleanup.policy", s("delete"), SourceDefaultConfig}}})

	broker := b.DescribeBroker()
	f(find(broker, "log.retention.ms"), Entry{Name: "log.retention.ms", Source: SourceDefaultConfig, Type: TypeLong,
		Synonyms: []SynonymEntry{{"log.retention.minutes", s("30"), SourceStaticBrokerConfig}, {"log.retention.hours", s("168"), SourceDefaultConfig}}})
	f(find(broker, "node.id"), Entry{Name: "node.id", Value: s("1"), Source: SourceDefaultConfig, Type: TypeInt, ReadOnly: true,
		Synonyms: []SynonymEntry{{"node.id", s("1"), SourceDefaultConfig}}})
}

// TestTableConsistent checks the definition table itself: every default is
// valid, every synonym is a broker key, every key has a doc.
func TestTableConsistent(t *testing.T) {
	for _, table := range [][]*def{brokerTable, topicTable} {
		for _, d := range table {
			if d.Doc == "" {
				t.Errorf("%s: no doc", d.Name)
			}
			if !d.NoDefault {
				if _, err := d.parse(d.Default); err != nil {
					t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, err)
				}
			}
			if d.Scope == ScopeTopic && d.topic == nil || d.Scope == ScopeBroker && d.topic != nil {
				t.Errorf("%s: apply function does not match scope", d.Name)
			}
			for _, s := range d.Synonyms {
				if _, ok := brokerByName[s.Name]; !ok {
					t.Errorf("%s: synonym %s is not a broker key", d.Name, s.Name)
				}
			}
			if n := len(d.Synonyms); n > 0 && brokerByName[d.Synonyms[n-1].Name].NoDefault {
				t.Errorf("%s: last synonym has no default", d.Name)
			}
		}
	}
	// A topic key's own default equals what its broker synonyms give.
	b := Defaults()
	for _, d := range topicTable {
		if got := b.topicDefault(d); got != d.Default {
			t.Errorf("%s: default %q, broker synonyms give %q", d.Name, d.Default, got)
		}
	}
}

func TestGroupKeys(t *testing.T) {
	f := func(kv map[string]string, wantErr bool) {
		t.Helper()
		b := Defaults()
		err := b.SetAll(kv)
		if err == nil {
			err = b.Group.Validate()
		}
		if (err != nil) != wantErr {
			t.Errorf("SetAll(%v) then Validate: err = %v, want error %v", kv, err, wantErr)
		}
	}
	f(nil, false)
	f(map[string]string{"group.consumer.heartbeat.interval.ms": "100", "group.consumer.min.heartbeat.interval.ms": "100", "group.consumer.session.timeout.ms": "1000", "group.consumer.min.session.timeout.ms": "1000"}, false)
	f(map[string]string{"group.consumer.heartbeat.interval.ms": "100"}, true) // below the min
	f(map[string]string{"group.min.session.timeout.ms": "9000", "group.max.session.timeout.ms": "8000"}, true)
	f(map[string]string{"group.coordinator.rebalance.protocols": "consumer"}, true)
	f(map[string]string{"group.coordinator.rebalance.protocols": "classic"}, false)
	f(map[string]string{"group.consumer.assignors": "range,uniform"}, false)
	f(map[string]string{"group.consumer.assignors": "sticky"}, true)
	f(map[string]string{"offsets.topic.num.partitions": "0"}, true)

	b := Defaults()
	want := Group{
		MinSessionTimeoutMs: 6000, MaxSessionTimeoutMs: 1800000, InitialRebalanceDelayMs: 3000, MaxSize: 2147483647,
		OffsetsTopicNumPartitions: 50, OffsetsTopicReplicationFactor: 3, OffsetsRetentionMinutes: 10080,
		OffsetsRetentionCheckIntervalMs: 600000, OffsetMetadataMaxBytes: 4096, ConsumerProtocol: true,
		ConsumerSessionTimeoutMs: 45000, ConsumerMinSessionTimeoutMs: 45000, ConsumerMaxSessionTimeoutMs: 60000,
		ConsumerHeartbeatIntervalMs: 5000, ConsumerMinHeartbeatIntervalMs: 5000, ConsumerMaxHeartbeatIntervalMs: 15000,
		ConsumerMaxSize: 2147483647, ConsumerAssignors: []string{"uniform", "range"},
	}
	if diff := cmp.Diff(want, b.Group); diff != "" {
		t.Errorf("Defaults().Group (-want +got):\n%s", diff)
	}
}
