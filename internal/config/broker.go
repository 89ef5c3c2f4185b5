package config

import (
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Broker is the typed broker configuration. Build it with Defaults and change
// it with Set; the exported fields are derived from the keys set and are for
// reading. A Broker is not safe for concurrent mutation; share a finished one
// read-only (Clone before changing a shared one).
type Broker struct {
	// NodeID is node.id.
	NodeID int32
	// Rack is broker.rack; empty means none.
	Rack string
	// ClusterID is cluster.id; empty means "generate one on first start".
	ClusterID string
	// Listen is the HOST:PORT to bind, from listeners (default 127.0.0.1:9092).
	Listen string
	// AdvertisedListener is the HOST:PORT clients are told to use, from
	// advertised.listeners; it defaults to Listen.
	AdvertisedListener string
	// DataDir is log.dirs, else log.dir (default ./kavka-data).
	DataDir string

	// ProcessRoles is process.roles ("broker", "controller"); empty is the
	// single-node mode (see Quorum).
	ProcessRoles []string
	// Voters is controller.quorum.voters.
	Voters []Voter
	// ControllerListenerNames is controller.listener.names.
	ControllerListenerNames []string
	// ControllerListen is the HOST:PORT of the first listener named in
	// controller.listener.names, or empty.
	ControllerListen string
	// AdminListener is admin.listener, the HOST:PORT of the admin HTTP
	// listener; empty means none.
	AdminListener string
	// BrokerSessionTimeoutMs is broker.session.timeout.ms.
	BrokerSessionTimeoutMs int64
	// BrokerHeartbeatIntervalMs is broker.heartbeat.interval.ms.
	BrokerHeartbeatIntervalMs int64
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms.
	ReplicaLagTimeMaxMs int64
	// AutoLeaderRebalance is auto.leader.rebalance.enable.
	AutoLeaderRebalance bool
	// LeaderImbalanceCheckIntervalSeconds is
	// leader.imbalance.check.interval.seconds.
	LeaderImbalanceCheckIntervalSeconds int64
	// LeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage.
	LeaderImbalancePerBrokerPercentage int32
	// listeners is the text of listeners, split by load.
	listeners string

	// NumPartitions is num.partitions, for topics created without a count.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor.
	DefaultReplicationFactor int16
	// AutoCreateTopics is auto.create.topics.enable.
	AutoCreateTopics bool
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool

	// SocketRequestMaxBytes is socket.request.max.bytes.
	SocketRequestMaxBytes int32
	// ConnectionsMaxIdleMs is connections.max.idle.ms.
	ConnectionsMaxIdleMs int64
	// MaxConnections is max.connections.
	MaxConnections int32
	// MessageMaxBytes is message.max.bytes.
	MessageMaxBytes int32
	// LogCleanerEnable is log.cleaner.enable.
	LogCleanerEnable bool
	// LogScrubBytesPerSecond is log.scrub.bytes.per.second; 0 is off.
	LogScrubBytesPerSecond int64
	// LogScrubIntervalMs is log.scrub.interval.ms.
	LogScrubIntervalMs int64

	// Group holds the group coordinator's keys (group.*, offsets.*).
	Group Group

	// Txn holds the transaction keys (transaction.*,
	// transactional.id.expiration.ms, producer.id.expiration.ms).
	Txn Txn

	// Log holds the topic config defaults the log.* keys (and
	// message.max.bytes, compression.type, min.insync.replicas, …) give:
	// Log.RetentionMs is log.retention.ms, else log.retention.minutes, else
	// log.retention.hours. It equals ResolveTopic(nil).
	Log Topic

	// set holds the keys set explicitly (trimmed text), by Set.
	set map[string]string
}

// Defaults returns the configuration with every key at its default.
func Defaults() Broker {
	var b Broker
	if err := b.load(); err != nil {
		panic(fmt.Sprintf("BUG: default config invalid: %v", err))
	}
	return b
}

// Clone returns a deep copy of b.
func (b *Broker) Clone() *Broker {
	c := *b
	c.set = maps.Clone(b.set)
	return &c
}

// Set sets a broker key to value. An unknown key or a bad value is an error
// naming the key; b is then unchanged.
func (b *Broker) Set(key, value string) error {
	d, ok := brokerByName[key]
	if !ok {
		return &ConfigError{Name: key, Msg: fmt.Sprintf("Unknown broker config name: %s", key)}
	}
	v, err := d.parse(value)
	if err == nil && d.check != nil {
		if why := d.check(v); why != "" {
			err = invalid(&d.Def, v.s, why)
		}
	}
	if err != nil {
		return err
	}
	old := b.set
	b.set = maps.Clone(old)
	if b.set == nil {
		b.set = make(map[string]string)
	}
	b.set[key] = v.s
	if err := b.load(); err != nil {
		b.set = old
		if err2 := b.load(); err2 != nil {
			panic(fmt.Sprintf("BUG: restoring config after %s: %v", key, err2))
		}
		return err
	}
	return nil
}

// SetAll sets every key of kv (as ParseProperties returns), in sorted key
// order, and reports every bad key at once.
func (b *Broker) SetAll(kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []string
	for _, k := range keys {
		if err := b.Set(k, kv[k]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// IsSet reports whether key was set explicitly, and its value.
func (b *Broker) IsSet(key string) (string, bool) {
	v, ok := b.set[key]
	return v, ok
}

// Value returns the text value of a broker key: the value set, else the
// default. ok is false for an unknown key or a null default.
func (b *Broker) Value(key string) (string, bool) {
	d, known := brokerByName[key]
	if !known {
		return "", false
	}
	if v, ok := b.set[key]; ok {
		return v, true
	}
	return d.Default, !d.NoDefault
}

// load recomputes the typed fields from the keys set and the defaults. It
// fails when the log defaults do not make a valid topic configuration.
func (b *Broker) load() error {
	for _, d := range brokerTable {
		if d.broker == nil {
			continue
		}
		s, ok := b.Value(d.Name)
		if !ok {
			continue // null: the zero value or another key's value stands
		}
		v, err := d.parse(s)
		if err != nil {
			panic(fmt.Sprintf("BUG: config %s holds invalid %q: %v", d.Name, s, err))
		}
		d.broker(b, v)
	}
	b.Listen, b.ControllerListen = splitListeners(b.listeners, b.ControllerListenerNames)
	if _, ok := b.set["advertised.listeners"]; !ok {
		b.AdvertisedListener = b.Listen
	}
	if _, ok := b.set["cluster.id"]; !ok {
		b.ClusterID = ""
	}
	if _, ok := b.set["broker.rack"]; !ok {
		b.Rack = ""
	}
	if _, ok := b.set["process.roles"]; !ok {
		b.ProcessRoles = nil
	}
	if _, ok := b.set["controller.quorum.voters"]; !ok {
		b.Voters = nil
	}
	t, err := b.ResolveTopic(nil)
	if err != nil {
		return err
	}
	b.Log = t
	return nil
}

// AdvertisedHostPort splits AdvertisedListener. An empty or wildcard host
// (the listener binds every interface) is reported as 127.0.0.1.
func (b *Broker) AdvertisedHostPort() (string, int32) {
	host, port, err := splitHostPort(b.AdvertisedListener)
	if err != nil {
		panic(fmt.Sprintf("BUG: advertised listener %q: %v", b.AdvertisedListener, err))
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return host, port
}

// parseListener turns "NAME://host:port[,…]" or "host:port" into host:port,
// using the first entry.
func parseListener(s string) (string, error) {
	first, _, _ := strings.Cut(s, ",")
	first = strings.TrimSpace(first)
	if _, rest, ok := strings.Cut(first, "://"); ok {
		first = rest
	}
	if _, _, err := splitHostPort(first); err != nil {
		return "", err
	}
	return first, nil
}

func splitHostPort(hp string) (string, int32, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, int32(port), nil
}

func checkAdminListener(v value) string {
	if v.s == "" {
		return ""
	}
	if _, _, err := splitHostPort(v.s); err != nil {
		return "want HOST:PORT: " + err.Error()
	}
	return ""
}

func checkListener(v value) string {
	if _, err := parseListener(v.s); err != nil {
		return "Not a listener NAME://HOST:PORT: " + err.Error()
	}
	return ""
}

func checkOneDir(v value) string {
	if v.s == "" {
		return "Empty directory"
	}
	if strings.Contains(v.s, ",") {
		return "Kavka supports one data directory"
	}
	return ""
}
