package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kavka-io/kavka/internal/vfs"
)

// Config configures a Node. Fields marked required have no default.
type Config struct {
	// ID is this node's raft id (Kafka's node.id), never 0, never reused.
	// Required.
	ID uint64

	// FS and Dir locate the node's WAL and snapshots. FS defaults to
	// vfs.Default; Dir is required.
	FS  vfs.FS
	Dir string

	// Voters is the initial voter set (controller.quorum.voters). It is used
	// only when Dir holds no state yet: a node listed in Voters or Learners
	// then bootstraps the group with identical state on every member; any
	// other node starts empty and waits to be added (AddLearner) and sent a
	// snapshot by the leader. Later membership lives in the log.
	Voters []uint64
	// Learners is the initial learner set (brokers that follow the metadata
	// log without voting; KRaft's observers). Optional.
	Learners []uint64

	// Transport sends messages to peers. Required.
	Transport Transport

	// Ticks drives raft's logical clock: one tick per value received. If nil,
	// Run ticks every TickInterval of real time. Simulations pass nil to
	// Open and drive ticks themselves.
	Ticks <-chan time.Time
	// TickInterval is the real-time length of one tick when Ticks is nil.
	// Default 100ms.
	TickInterval time.Duration
	// ElectionTicks is raft's election timeout in ticks (randomised by raft
	// to [ElectionTicks, 2*ElectionTicks)). Default 10.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks. Default 1.
	HeartbeatTicks int

	// Apply is called, in log order and on the node's goroutine, with each
	// committed normal entry proposed through Propose. It must not block and
	// must not call the Node's blocking methods. Required.
	Apply func(index uint64, data []byte)
	// Restore replaces the application state with a snapshot taken at index
	// (data is what Snapshot returned; it is empty for the bootstrap
	// snapshot at index 1). It is called from Open when the directory holds
	// a snapshot and on the node's goroutine when the leader sends one.
	// Entries after index follow through Apply. Required.
	Restore func(index uint64, data []byte) error
	// Snapshot returns the application state after the last applied entry.
	// It is called on the node's goroutine every SnapshotEntries applied
	// entries and after each membership change; the driver stores the bytes
	// and compacts the log. Required.
	Snapshot func() ([]byte, error)
	// SnapshotEntries is how many applied entries trigger a snapshot.
	// Default 10000.
	SnapshotEntries uint64
	// CatchUpEntries is how many entries below a snapshot stay in memory so
	// that a slightly lagging follower needs no snapshot. Default 1000.
	CatchUpEntries uint64

	// MaxSizePerMsg bounds the entries bytes of one append message.
	// Default 1 MiB.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds unacknowledged append messages per follower.
	// Default 256.
	MaxInflightMsgs int
	// MaxPending bounds proposals, reads and membership changes waiting on
	// this node; beyond it, requests fail with ErrBusy. Default 4096.
	MaxPending int
	// RecvQueue bounds inbound messages queued for the node's goroutine;
	// beyond it, messages are dropped (raft retries). Default 1024.
	RecvQueue int

	// Logger receives the driver's logs and raft's (raft's Info at Debug).
	// Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.ID == 0 {
		return errors.New("raft: config: ID must not be 0")
	}
	if c.Dir == "" {
		return errors.New("raft: config: Dir is required")
	}
	if c.Transport == nil {
		return errors.New("raft: config: Transport is required")
	}
	if c.Apply == nil || c.Restore == nil || c.Snapshot == nil {
		return errors.New("raft: config: Apply, Restore and Snapshot are required")
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		return fmt.Errorf("raft: config: ElectionTicks %d must exceed HeartbeatTicks %d", c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = 1000
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxPending == 0 {
		c.MaxPending = 4096
	}
	if c.RecvQueue == 0 {
		c.RecvQueue = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	for _, v := range c.Voters {
		if v == 0 {
			return errors.New("raft: config: voter id 0")
		}
		if slices.Contains(c.Learners, v) {
			return fmt.Errorf("raft: config: node %d is both voter and learner", v)
		}
	}
	return nil
}

// bootConfState is the configuration a fresh directory is bootstrapped with,
// or nil if this node is not part of the initial configuration.
func (c *Config) bootConfState() *raftpb.ConfState {
	if len(c.Voters) == 0 || (!slices.Contains(c.Voters, c.ID) && !slices.Contains(c.Learners, c.ID)) {
		return nil
	}
	voters := slices.Clone(c.Voters)
	learners := slices.Clone(c.Learners)
	slices.Sort(voters)
	slices.Sort(learners)
	return &raftpb.ConfState{Voters: slices.Compact(voters), Learners: slices.Compact(learners)}
}
