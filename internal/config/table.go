package config

import (
	"math"
	"sort"
	"strconv"
)

// Frequently used limits.
const (
	maxInt32 = math.MaxInt32
	maxInt64 = "9223372036854775807"
)

// def is a Def plus how it is applied; the table below is the single source
// of truth for every key.
type def struct {
	Def
	// check runs after parse for values a range cannot express; it returns
	// why v is invalid, or "".
	check func(v value) string
	// broker applies a valid value to a Broker (broker keys only).
	broker func(b *Broker, v value)
	// topic applies a valid value to a Topic (topic keys only).
	topic func(t *Topic, v value)
}

type opt func(*def)

func min(f float64) opt                { return func(d *def) { d.Min, d.HasMin = f, true } }
func max(f float64) opt                { return func(d *def) { d.Max, d.HasMax = f, true } }
func oneOf(s ...string) opt            { return func(d *def) { d.Enum = s } }
func dynamic() opt                     { return func(d *def) { d.Dynamic = true } }
func null() opt                        { return func(d *def) { d.NoDefault = true } }
func kavka() opt                       { return func(d *def) { d.Kavka = true } }
func checked(f func(value) string) opt { return func(d *def) { d.check = f } }
func syn(name string, scale int64) opt {
	return func(d *def) { d.Synonyms = append(d.Synonyms, Synonym{Name: name, Scale: scale}) }
}

func bk(name string, t Type, dflt, doc string, apply func(*Broker, value), opts ...opt) *def {
	d := &def{Def: Def{Name: name, Type: t, Scope: ScopeBroker, Default: dflt, Doc: doc}, broker: apply}
	for _, o := range opts {
		o(d)
	}
	return d
}

func tk(name string, t Type, dflt, doc string, apply func(*Topic, value), opts ...opt) *def {
	d := &def{Def: Def{Name: name, Type: t, Scope: ScopeTopic, Default: dflt, Doc: doc, Dynamic: true}, topic: apply}
	for _, o := range opts {
		o(d)
	}
	return d
}

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

// brokerTable defines every broker key.
var brokerTable = []*def{
	// Identity and listeners.
	bk("node.id", TypeInt, "1", "The id of this node in the cluster. Kavka defaults to 1 so that a single node needs no configuration.",
		func(b *Broker, v value) { b.NodeID = int32(v.i) }, min(0)),
	bk("broker.rack", TypeString, "", "Rack of the broker, used for rack-aware replica assignment and reported in Metadata.",
		func(b *Broker, v value) { b.Rack = v.s }, null()),
	bk("cluster.id", TypeString, "", "The cluster id. Kavka key: when unset, the id is generated on first start and kept in meta.properties in the data directory; when set, it must match the stored one.",
		func(b *Broker, v value) { b.ClusterID = v.s }, null(), kavka()),
	bk("listeners", TypeString, "PLAINTEXT://127.0.0.1:9092", "The listeners to bind, as NAME://HOST:PORT,… (or HOST:PORT). An empty host binds all interfaces. Kavka serves one client listener: the first whose name is not in controller.listener.names; a listener named there (CONTROLLER) carries the metadata quorum's traffic.",
		func(b *Broker, v value) { b.listeners = v.s }, checked(checkListeners)),
	bk("admin.listener", TypeString, "", "HOST:PORT of the admin HTTP listener (internal/httpapi): /healthz, /metrics (Prometheus) and /debug/pprof. Kavka key: empty (the default) turns it off. It has no authentication, so bind it to loopback (e.g. 127.0.0.1:9644) or a management network.",
		func(b *Broker, v value) { b.AdminListener = v.s }, null(), kavka(), checked(checkAdminListener)),
	bk("process.roles", TypeList, "", "The roles of this process: broker, controller, or both (KRaft, KIP-631). Kavka: empty (the default) is the single-node mode, a broker and its own controller with the metadata in a local file; any value makes the node a member of the raft quorum given by controller.quorum.voters.",
		func(b *Broker, v value) { b.ProcessRoles = splitList(v.s) }, null(), checked(checkRoles)),
	bk("controller.quorum.voters", TypeList, "", "The controllers of the metadata quorum, as id@host:port,… (their CONTROLLER listeners). Required when process.roles is set.",
		func(b *Broker, v value) { b.Voters, _ = ParseVoters(v.s) }, null(), checked(checkVoters)),
	bk("controller.listener.names", TypeList, "CONTROLLER", "The names of the listeners the controller uses (the first is the one bound). On a broker-only node, the listener the metadata log is replicated to, if listed in listeners.",
		func(b *Broker, v value) { b.ControllerListenerNames = splitList(v.s) }),
	bk("broker.session.timeout.ms", TypeInt, "9000", "A broker that has not heartbeated to the active controller for this long is fenced: it leaves the ISRs and loses its leaderships.",
		func(b *Broker, v value) { b.BrokerSessionTimeoutMs = v.i }, min(1)),
	bk("broker.heartbeat.interval.ms", TypeInt, "2000", "How often a broker heartbeats to the active controller.",
		func(b *Broker, v value) { b.BrokerHeartbeatIntervalMs = v.i }, min(1)),
	bk("replica.lag.time.max.ms", TypeLong, "30000", "A follower that has not fetched up to the leader's log end offset for this long is removed from the ISR (AlterPartition to the controller).",
		func(b *Broker, v value) { b.ReplicaLagTimeMaxMs = v.i }, min(1)),
	bk("auto.leader.rebalance.enable", TypeBoolean, "true", "The active controller moves leadership back to each partition's preferred replica (the first of its replicas) when it is in the ISR and a broker's share of partitions not led by their preferred replica is above leader.imbalance.per.broker.percentage.",
		func(b *Broker, v value) { b.AutoLeaderRebalance = v.b }),
	bk("leader.imbalance.check.interval.seconds", TypeLong, "300", "How often the active controller checks for leader imbalance.",
		func(b *Broker, v value) { b.LeaderImbalanceCheckIntervalSeconds = v.i }, min(1)),
	bk("leader.imbalance.per.broker.percentage", TypeInt, "10", "The share of a broker's preferred partitions (in percent) that may be led by another broker before the controller rebalances them.",
		func(b *Broker, v value) { b.LeaderImbalancePerBrokerPercentage = int32(v.i) }, min(0), max(100)),
	bk("advertised.listeners", TypeString, "", "The address clients are told to connect to, as NAME://HOST:PORT; defaults to the listener.",
		func(b *Broker, v value) { b.AdvertisedListener, _ = parseListener(v.s) }, null(), checked(checkListener)),
	bk("log.dirs", TypeString, "", "The directory that holds the data (partition logs and cluster metadata); overrides log.dir. Kavka supports one directory.",
		func(b *Broker, v value) { b.DataDir = v.s }, null(), checked(checkOneDir)),
	bk("log.dir", TypeString, "./kavka-data", "The data directory, used when log.dirs is not set.",
		func(b *Broker, v value) {
			if _, ok := b.set["log.dirs"]; !ok {
				b.DataDir = v.s
			}
		}, checked(checkOneDir)),

	// Topic creation.
	bk("num.partitions", TypeInt, "1", "The default number of partitions of a new topic.",
		func(b *Broker, v value) { b.NumPartitions = int32(v.i) }, min(1), dynamic()),
	bk("default.replication.factor", TypeInt, "1", "The default replication factor of a new topic.",
		func(b *Broker, v value) { b.DefaultReplicationFactor = int16(v.i) }, min(1), max(math.MaxInt16)),
	bk("auto.create.topics.enable", TypeBoolean, "true", "Create a topic when a client asks for its metadata (and allows it) or produces to it.",
		func(b *Broker, v value) { b.AutoCreateTopics = v.b }),
	bk("delete.topic.enable", TypeBoolean, "true", "Allow topics to be deleted. When false, DeleteTopics fails with TOPIC_DELETION_DISABLED.",
		func(b *Broker, v value) { b.DeleteTopicEnable = v.b }),

	// Network.
	bk("socket.request.max.bytes", TypeInt, "104857600", "The largest request frame the broker reads; a larger one closes the connection.",
		func(b *Broker, v value) { b.SocketRequestMaxBytes = int32(v.i) }, min(1)),
	bk("connections.max.idle.ms", TypeLong, "600000", "Close connections idle for longer than this.",
		func(b *Broker, v value) { b.ConnectionsMaxIdleMs = v.i }),
	bk("max.connections", TypeInt, strconv.Itoa(maxInt32), "The most connections the broker accepts at once.",
		func(b *Broker, v value) { b.MaxConnections = int32(v.i) }, min(0), dynamic()),
	bk("message.max.bytes", TypeInt, "1048588", "The largest record batch the broker accepts, after compression. Default of the topic config max.message.bytes.",
		func(b *Broker, v value) { b.MessageMaxBytes = int32(v.i) }, min(0), dynamic()),

	// Log defaults inherited by topic configs (see topicTable synonyms).
	bk("log.segment.bytes", TypeInt, "1073741824", "The largest size of one segment file. Default of segment.bytes.", nil, min(14), dynamic()),
	bk("log.roll.ms", TypeLong, "", "Roll a new segment after this many milliseconds; overrides log.roll.hours. Default of segment.ms.", nil, null(), min(1), dynamic()),
	bk("log.roll.hours", TypeInt, "168", "Roll a new segment after this many hours. Default of segment.ms (in hours).", nil, min(1)),
	bk("log.roll.jitter.ms", TypeLong, "", "The largest random jitter subtracted from the roll time; overrides log.roll.jitter.hours.", nil, null(), min(0), dynamic()),
	bk("log.roll.jitter.hours", TypeInt, "0", "The largest random jitter subtracted from the roll time, in hours.", nil, min(0)),
	bk("log.retention.ms", TypeLong, "", "Keep a log segment this long before deleting it; -1 keeps it forever. Overrides log.retention.minutes and log.retention.hours. Default of retention.ms.", nil, null(), min(-1), dynamic()),
	bk("log.retention.minutes", TypeInt, "", "Like log.retention.ms, in minutes; overrides log.retention.hours.", nil, null(), min(-1)),
	bk("log.retention.hours", TypeInt, "168", "Like log.retention.ms, in hours (the lowest precedence of the three).", nil, min(-1)),
	bk("log.retention.bytes", TypeLong, "-1", "The largest size of a partition's log before old segments are deleted; -1 means no limit. Default of retention.bytes.", nil, dynamic()),
	bk("log.cleanup.policy", TypeList, "delete", "delete (remove old segments) and/or compact (keep the last record per key). Default of cleanup.policy.", nil, oneOf("compact", "delete"), dynamic()),
	bk("log.cleaner.enable", TypeBoolean, "true", "Run the log cleaner, which compacts topics with cleanup.policy=compact.",
		func(b *Broker, v value) { b.LogCleanerEnable = v.b }),
	bk("log.cleaner.delete.retention.ms", TypeLong, "86400000", "Keep delete tombstones this long in compacted topics. Default of delete.retention.ms.", nil, min(0), dynamic()),
	bk("log.cleaner.min.compaction.lag.ms", TypeLong, "0", "The least time a record stays uncompacted. Default of min.compaction.lag.ms.", nil, min(0), dynamic()),
	bk("log.cleaner.max.compaction.lag.ms", TypeLong, maxInt64, "The most time a record may stay uncompacted. Default of max.compaction.lag.ms.", nil, min(1), dynamic()),
	bk("log.cleaner.min.cleanable.ratio", TypeDouble, "0.5", "The least ratio of dirty log to total log for a log to be compacted. Default of min.cleanable.dirty.ratio.", nil, min(0), max(1), dynamic()),
	bk("log.scrub.bytes.per.second", TypeLong, "16777216", "How fast the broker reads its partition logs back in the background to check every batch's CRC32C, so that a bit flipped on disk is found on a replica that serves nothing (every segment is also checked the first time it is read after a start); 0 turns the scrub off. Kavka key: a corrupt batch takes the log offline (KAFKA_STORAGE_ERROR) and a replica is repaired from its leader (docs/adr/0008-segment-scrub.md).",
		func(b *Broker, v value) { b.LogScrubBytesPerSecond = v.i }, min(0), kavka()),
	bk("log.scrub.interval.ms", TypeLong, "604800000", "The time between the starts of two scrub passes over every log; the first starts with the broker. Kavka key (see log.scrub.bytes.per.second).",
		func(b *Broker, v value) { b.LogScrubIntervalMs = v.i }, min(1), kavka()),
	bk("log.index.interval.bytes", TypeInt, "4096", "Add an offset index entry every this many bytes. Default of index.interval.bytes.", nil, min(0), dynamic()),
	bk("log.index.size.max.bytes", TypeInt, "10485760", "The largest size of an offset index file. Default of segment.index.bytes.", nil, min(4), dynamic()),
	bk("log.segment.delete.delay.ms", TypeLong, "60000", "Wait this long before deleting a segment file from disk. Default of file.delete.delay.ms.", nil, min(0), dynamic()),
	bk("log.flush.interval.messages", TypeLong, maxInt64, "Flush a partition after this many messages. Kavka: while neither this nor log.flush.interval.ms (nor a topic's flush.messages/flush.ms) is set, every write is fsynced before it is acknowledged. Default of flush.messages.", nil, min(1), dynamic()),
	bk("log.flush.interval.ms", TypeLong, "", "Flush a partition when its oldest unflushed message is this old; overrides log.flush.scheduler.interval.ms. Kavka: see log.flush.interval.messages. Default of flush.ms.", nil, null(), min(0), dynamic()),
	bk("log.flush.scheduler.interval.ms", TypeLong, maxInt64, "How often the flusher checks whether a log needs flushing.", nil, min(0)),
	bk("log.preallocate", TypeBoolean, "false", "Preallocate segment files. Default of preallocate.", nil, dynamic()),
	bk("log.message.timestamp.type", TypeString, "CreateTime", "CreateTime (the producer's timestamp) or LogAppendTime (the broker's). Default of message.timestamp.type.", nil, oneOf("CreateTime", "LogAppendTime"), dynamic()),
	bk("log.message.timestamp.difference.max.ms", TypeLong, maxInt64, "Deprecated (removed in Kafka 4.0): the most a CreateTime timestamp may differ from the broker's time. Default of message.timestamp.difference.max.ms.", nil, min(0), dynamic()),
	bk("log.message.timestamp.before.max.ms", TypeLong, maxInt64, "The most a CreateTime timestamp may lie in the past (KIP-937). Default of message.timestamp.before.max.ms.", nil, min(0), dynamic()),
	bk("log.message.timestamp.after.max.ms", TypeLong, "3600000", "The most a CreateTime timestamp may lie in the future (KIP-937; Kafka 4.0 default, KIP-1030). Default of message.timestamp.after.max.ms.", nil, min(0), dynamic()),
	bk("compression.type", TypeString, "producer", "The compression of stored batches: producer keeps the producer's codec. Default of the topic config compression.type.", nil, oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), dynamic()),
	bk("min.insync.replicas", TypeInt, "1", "The least number of in-sync replicas an acks=all write needs. Default of the topic config min.insync.replicas.", nil, min(1), dynamic()),
	bk("unclean.leader.election.enable", TypeBoolean, "false", "Allow a replica outside the ISR to become leader, losing data. Default of the topic config.", nil, dynamic()),

	// Group coordinator: classic groups, committed offsets, KIP-848 consumer groups.
	bk("group.min.session.timeout.ms", TypeInt, "6000", "The least session timeout a classic group member may ask for in JoinGroup; less is INVALID_SESSION_TIMEOUT.",
		func(b *Broker, v value) { b.Group.MinSessionTimeoutMs = v.i }, min(0)),
	bk("group.max.session.timeout.ms", TypeInt, "1800000", "The most session timeout a classic group member may ask for in JoinGroup; more is INVALID_SESSION_TIMEOUT.",
		func(b *Broker, v value) { b.Group.MaxSessionTimeoutMs = v.i }, min(0)),
	bk("group.initial.rebalance.delay.ms", TypeInt, "3000", "How long the first rebalance of an empty classic group waits for more members to join.",
		func(b *Broker, v value) { b.Group.InitialRebalanceDelayMs = v.i }, min(0)),
	bk("group.max.size", TypeInt, strconv.Itoa(maxInt32), "The most members a classic group may have; more is GROUP_MAX_SIZE_REACHED.",
		func(b *Broker, v value) { b.Group.MaxSize = v.i }, min(1)),
	bk("offsets.topic.num.partitions", TypeInt, "50", "The number of partitions of __consumer_offsets. It decides which partition owns a group and must not change once the topic exists.",
		func(b *Broker, v value) { b.Group.OffsetsTopicNumPartitions = int32(v.i) }, min(1)),
	bk("offsets.topic.replication.factor", TypeShort, "3", "The replication factor of __consumer_offsets; Kavka caps it to the number of brokers when the topic is created.",
		func(b *Broker, v value) { b.Group.OffsetsTopicReplicationFactor = int16(v.i) }, min(1)),
	bk("offsets.retention.minutes", TypeInt, "10080", "Committed offsets of a group that has been empty this long (of a group without members ever: commits this old) are deleted (KIP-211).",
		func(b *Broker, v value) { b.Group.OffsetsRetentionMinutes = v.i }, min(1)),
	bk("offsets.retention.check.interval.ms", TypeLong, "600000", "How often the coordinator looks for expired offsets.",
		func(b *Broker, v value) { b.Group.OffsetsRetentionCheckIntervalMs = v.i }, min(1)),
	bk("offset.metadata.max.bytes", TypeInt, "4096", "The largest metadata string an offset commit may carry; more is OFFSET_METADATA_TOO_LARGE.",
		func(b *Broker, v value) { b.Group.OffsetMetadataMaxBytes = v.i }, min(0)),
	bk("group.coordinator.rebalance.protocols", TypeList, "classic,consumer", "The group protocols the coordinator serves: classic (JoinGroup/SyncGroup) and consumer (KIP-848 ConsumerGroupHeartbeat). Without consumer, ConsumerGroupHeartbeat answers UNSUPPORTED_VERSION and clients fall back to classic.",
		func(b *Broker, v value) { b.Group.ConsumerProtocol = contains(v.list, "consumer") }, oneOf("classic", "consumer"), checked(checkClassic)),
	bk("group.consumer.session.timeout.ms", TypeInt, "45000", "The session timeout of KIP-848 consumer group members: a member that does not heartbeat for this long is removed.",
		func(b *Broker, v value) { b.Group.ConsumerSessionTimeoutMs = v.i }, min(1)),
	bk("group.consumer.min.session.timeout.ms", TypeInt, "45000", "The least group.consumer.session.timeout.ms a group may use.",
		func(b *Broker, v value) { b.Group.ConsumerMinSessionTimeoutMs = v.i }, min(1)),
	bk("group.consumer.max.session.timeout.ms", TypeInt, "60000", "The most group.consumer.session.timeout.ms a group may use.",
		func(b *Broker, v value) { b.Group.ConsumerMaxSessionTimeoutMs = v.i }, min(1)),
	bk("group.consumer.heartbeat.interval.ms", TypeInt, "5000", "The heartbeat interval the coordinator gives KIP-848 consumer group members.",
		func(b *Broker, v value) { b.Group.ConsumerHeartbeatIntervalMs = v.i }, min(1)),
	bk("group.consumer.min.heartbeat.interval.ms", TypeInt, "5000", "The least group.consumer.heartbeat.interval.ms a group may use.",
		func(b *Broker, v value) { b.Group.ConsumerMinHeartbeatIntervalMs = v.i }, min(1)),
	bk("group.consumer.max.heartbeat.interval.ms", TypeInt, "15000", "The most group.consumer.heartbeat.interval.ms a group may use.",
		func(b *Broker, v value) { b.Group.ConsumerMaxHeartbeatIntervalMs = v.i }, min(1)),
	bk("group.consumer.max.size", TypeInt, strconv.Itoa(maxInt32), "The most members a KIP-848 consumer group may have; more is GROUP_MAX_SIZE_REACHED.",
		func(b *Broker, v value) { b.Group.ConsumerMaxSize = v.i }, min(1)),
	bk("group.consumer.assignors", TypeList, "uniform,range", "The server-side assignors of KIP-848 consumer groups, by name; the first is the default for members that name none. uniform balances all subscribed partitions over the members and keeps partitions where they are; range gives each member a range of every topic it subscribes to.",
		func(b *Broker, v value) { b.Group.ConsumerAssignors = v.list }, oneOf("uniform", "range")),

	// Transactions and idempotent producers (internal/txn, KIP-98).
	bk("transaction.max.timeout.ms", TypeInt, "900000", "The longest transaction timeout a producer may ask for in InitProducerId; more is INVALID_TRANSACTION_TIMEOUT.",
		func(b *Broker, v value) { b.Txn.MaxTimeoutMs = v.i }, min(1)),
	bk("transaction.state.log.num.partitions", TypeInt, "50", "The number of partitions of __transaction_state. It decides which partition owns a transactional id and must not change once the topic exists.",
		func(b *Broker, v value) { b.Txn.StateLogNumPartitions = int32(v.i) }, min(1)),
	bk("transaction.state.log.replication.factor", TypeShort, "3", "The replication factor of __transaction_state; Kavka caps it to the number of brokers when the topic is created.",
		func(b *Broker, v value) { b.Txn.StateLogReplicationFactor = int16(v.i) }, min(1)),
	bk("transaction.state.log.segment.bytes", TypeInt, "104857600", "The segment size of __transaction_state, set when the topic is created.",
		func(b *Broker, v value) { b.Txn.StateLogSegmentBytes = v.i }, min(1)),
	bk("transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, "10000", "How often the coordinator aborts transactions open longer than their timeout (Kavka also completes interrupted commits and aborts then, at least every second).",
		func(b *Broker, v value) { b.Txn.AbortTimedOutCleanupIntervalMs = v.i }, min(1)),
	bk("transaction.remove.expired.transaction.cleanup.interval.ms", TypeInt, "3600000", "How often the coordinator forgets transactional ids idle longer than transactional.id.expiration.ms.",
		func(b *Broker, v value) { b.Txn.RemoveExpiredCleanupIntervalMs = v.i }, min(1)),
	bk("transaction.partition.verification.enable", TypeBoolean, "true", "Verify with the transaction coordinator that a transactional batch's partition was added to the open transaction before appending it (KIP-890 part 1): a late produce of an ended transaction is refused with INVALID_TXN_STATE instead of leaving a hanging transaction.",
		func(b *Broker, v value) { b.Txn.PartitionVerification = v.b }),
	bk("transactional.id.expiration.ms", TypeInt, "604800000", "A transactional id with no transaction and no request for this long is forgotten; its producer then gets INVALID_PRODUCER_ID_MAPPING.",
		func(b *Broker, v value) { b.Txn.TransactionalIDExpirationMs = v.i }, min(1)),
	bk("producer.id.expiration.ms", TypeInt, "86400000", "A partition forgets an idempotent producer with no batch for this long and no open transaction; its next batch is accepted at any sequence (KIP-360).",
		func(b *Broker, v value) { b.Txn.ProducerIDExpirationMs = v.i }, min(1)),
}

// topicTable defines every topic key; defaults come from the broker keys
// named as synonyms.
var topicTable = []*def{
	tk("cleanup.policy", TypeList, "delete", "delete (remove old segments by retention.ms / retention.bytes) and/or compact (keep the last record per key).",
		func(t *Topic, v value) {
			t.CleanupDelete, t.CleanupCompact = contains(v.list, "delete"), contains(v.list, "compact")
		}, oneOf("compact", "delete"), syn("log.cleanup.policy", 1)),
	tk("compression.type", TypeString, "producer", "The compression of stored batches: producer keeps the producer's codec; uncompressed stores them uncompressed.",
		func(t *Topic, v value) { t.CompressionType = v.s }, oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), syn("compression.type", 1)),
	tk("delete.retention.ms", TypeLong, "86400000", "Keep delete tombstones this long in a compacted topic.",
		func(t *Topic, v value) { t.DeleteRetentionMs = v.i }, min(0), syn("log.cleaner.delete.retention.ms", 1)),
	tk("file.delete.delay.ms", TypeLong, "60000", "Wait this long before deleting a segment file from disk.",
		func(t *Topic, v value) { t.FileDeleteDelayMs = v.i }, min(0), syn("log.segment.delete.delay.ms", 1)),
	tk("flush.messages", TypeLong, maxInt64, "Force an fsync after this many messages. Kavka: while neither flush.messages nor flush.ms is set (here or on the broker), every write is fsynced before it is acknowledged.",
		func(t *Topic, v value) { t.FlushMessages = v.i }, min(1), syn("log.flush.interval.messages", 1)),
	tk("flush.ms", TypeLong, maxInt64, "Force an fsync when the oldest unflushed message is this old. Kavka: see flush.messages.",
		func(t *Topic, v value) { t.FlushMs = v.i }, min(0), syn("log.flush.interval.ms", 1), syn("log.flush.scheduler.interval.ms", 1)),
	tk("index.interval.bytes", TypeInt, "4096", "Add an offset index entry every this many bytes.",
		func(t *Topic, v value) { t.IndexIntervalBytes = int32(v.i) }, min(0), syn("log.index.interval.bytes", 1)),
	tk("max.compaction.lag.ms", TypeLong, maxInt64, "The most time a record may stay uncompacted.",
		func(t *Topic, v value) { t.MaxCompactionLagMs = v.i }, min(1), syn("log.cleaner.max.compaction.lag.ms", 1)),
	tk("max.message.bytes", TypeInt, "1048588", "The largest record batch accepted, after compression.",
		func(t *Topic, v value) { t.MaxMessageBytes = int32(v.i) }, min(0), syn("message.max.bytes", 1)),
	tk("message.timestamp.type", TypeString, "CreateTime", "CreateTime keeps the producer's timestamps; LogAppendTime replaces them with the broker's time.",
		func(t *Topic, v value) { t.LogAppendTime = v.s == "LogAppendTime" }, oneOf("CreateTime", "LogAppendTime"), syn("log.message.timestamp.type", 1)),
	tk("message.timestamp.difference.max.ms", TypeLong, maxInt64, "Deprecated (removed in Kafka 4.0; use the before/after keys): the most a CreateTime timestamp may differ from the broker's time.",
		func(t *Topic, v value) { t.TimestampDifferenceMaxMs = v.i }, min(0), syn("log.message.timestamp.difference.max.ms", 1)),
	tk("message.timestamp.before.max.ms", TypeLong, maxInt64, "The most a CreateTime timestamp may lie in the past (KIP-937).",
		func(t *Topic, v value) { t.TimestampBeforeMaxMs = v.i }, min(0), syn("log.message.timestamp.before.max.ms", 1)),
	tk("message.timestamp.after.max.ms", TypeLong, "3600000", "The most a CreateTime timestamp may lie in the future (KIP-937).",
		func(t *Topic, v value) { t.TimestampAfterMaxMs = v.i }, min(0), syn("log.message.timestamp.after.max.ms", 1)),
	tk("min.cleanable.dirty.ratio", TypeDouble, "0.5", "The least ratio of dirty log to total log for the log to be compacted.",
		func(t *Topic, v value) { t.MinCleanableDirtyRatio = v.f }, min(0), max(1), syn("log.cleaner.min.cleanable.ratio", 1)),
	tk("min.compaction.lag.ms", TypeLong, "0", "The least time a record stays uncompacted.",
		func(t *Topic, v value) { t.MinCompactionLagMs = v.i }, min(0), syn("log.cleaner.min.compaction.lag.ms", 1)),
	tk("min.insync.replicas", TypeInt, "1", "The least number of in-sync replicas an acks=all write needs.",
		func(t *Topic, v value) { t.MinInsyncReplicas = int32(v.i) }, min(1), syn("min.insync.replicas", 1)),
	tk("preallocate", TypeBoolean, "false", "Preallocate segment files.",
		func(t *Topic, v value) { t.Preallocate = v.b }, syn("log.preallocate", 1)),
	tk("retention.bytes", TypeLong, "-1", "The largest size of a partition's log before old segments are deleted; -1 means no limit.",
		func(t *Topic, v value) { t.RetentionBytes = v.i }, syn("log.retention.bytes", 1)),
	tk("retention.ms", TypeLong, "604800000", "Keep a segment this long before deleting it; -1 keeps it forever.",
		func(t *Topic, v value) { t.RetentionMs = v.i }, min(-1),
		syn("log.retention.ms", 1), syn("log.retention.minutes", msPerMinute), syn("log.retention.hours", msPerHour)),
	tk("segment.bytes", TypeInt, "1073741824", "The largest size of one segment file.",
		func(t *Topic, v value) { t.SegmentBytes = int32(v.i) }, min(14), syn("log.segment.bytes", 1)),
	tk("segment.index.bytes", TypeInt, "10485760", "The largest size of a segment's offset index.",
		func(t *Topic, v value) { t.SegmentIndexBytes = int32(v.i) }, min(4), syn("log.index.size.max.bytes", 1)),
	tk("segment.jitter.ms", TypeLong, "0", "The largest random jitter subtracted from segment.ms.",
		func(t *Topic, v value) { t.SegmentJitterMs = v.i }, min(0), syn("log.roll.jitter.ms", 1), syn("log.roll.jitter.hours", msPerHour)),
	tk("segment.ms", TypeLong, "604800000", "Roll a new segment after this many milliseconds even if it is not full.",
		func(t *Topic, v value) { t.SegmentMs = v.i }, min(1), syn("log.roll.ms", 1), syn("log.roll.hours", msPerHour)),
	tk("unclean.leader.election.enable", TypeBoolean, "false", "Allow a replica outside the ISR to become leader, losing data.",
		func(t *Topic, v value) { t.UncleanLeaderElection = v.b }, syn("unclean.leader.election.enable", 1)),
}

var (
	brokerByName = index(brokerTable)
	topicByName  = index(topicTable)
	brokerDefs   = publicDefs(brokerTable)
	topicDefs    = publicDefs(topicTable)
)

func index(table []*def) map[string]*def {
	m := make(map[string]*def, len(table))
	for _, d := range table {
		if _, dup := m[d.Name]; dup {
			panic("BUG: config defined twice: " + d.Name)
		}
		m[d.Name] = d
	}
	return m
}

func publicDefs(table []*def) []*Def {
	out := make([]*Def, len(table))
	for i, d := range table {
		out[i] = &d.Def
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
