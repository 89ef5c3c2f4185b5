package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/metadata/adapt"
	"github.com/kavka-io/kavka/internal/replica"
)

// newReplicas builds the broker's replica manager: follower fetches go over
// TCP to the brokers of the image, ISR changes to the metadata store.
func (s *Server) newReplicas() *replica.Manager {
	tr := replica.NewTCPTransport(fmt.Sprintf("kavka-replica-%d", s.cfg.NodeID), func(id int32) (string, bool) {
		b := s.meta.Image().Broker(id)
		if b == nil {
			return "", false
		}
		return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), true
	})
	return replica.NewManager(replica.Config{
		NodeID:            s.cfg.NodeID,
		ReplicaLagTimeMax: time.Duration(s.cfg.ReplicaLagTimeMaxMs) * time.Millisecond,
		Transport:         tr,
		Alter:             storeAlter{s.meta},
		Notify:            func(topic string, p int32) { s.waits.Notify(handler.TopicPartition{Topic: topic, Partition: p}) },
		Clock:             s.opts.Clock,
		Logger:            s.logger,
	})
}

// syncReplicas gives every local replica the state of its partition in im;
// syncLogs made the logs first, so a replica's log exists before Apply
// gives it a role. s.syncMu must be held.
func (s *Server) syncReplicas(prev, im *metadata.Image) {
	if s.replicas == nil {
		return
	}
	self := s.cfg.NodeID
	// In a cluster this broker leads nothing until the image holds its
	// current registration, unfenced: a restarted broker replays an old
	// image in which it may still lead partitions whose leadership moved
	// while it was down, and must not accept writes as that stale leader
	// (RELIABILITY F1: acks in a stale epoch). When its liveness changes,
	// every partition is applied again.
	//
	// Until then it does not follow either: a leader in that old image may
	// be a zombie of an epoch the controller has since moved past, and
	// this broker's fetches in the old epoch would count it in that
	// zombie's ISR and let its high watermark pass records the current
	// leader never got (internal/sim seed 483: a restarted follower
	// fetched in epoch 0 after having led epoch 1, then truncated below
	// the high watermark it had reported). Kafka's broker likewise applies
	// no metadata to its replicas before catching up at startup.
	registered := s.selfRegistered(im)
	live := s.selfLive(im) // implies registered
	relive := live != s.wasLive
	reapply := relive || registered != s.wasRegistered
	s.wasLive, s.wasRegistered = live, registered
	// Partitions gone since prev first: prev may be several images back
	// (runSync coalesces), so a topic may have been deleted and created
	// again (a new id) in between; its new replica is applied below.
	if prev != nil {
		for _, name := range prev.TopicNames() {
			pt, t := prev.Topic(name), im.Topic(name)
			for i := range pt.Partitions {
				if t == nil || t.ID != pt.ID || i >= len(t.Partitions) {
					s.replicas.Remove(name, int32(i))
				}
			}
		}
	}
	for _, name := range im.TopicNames() {
		t := im.Topic(name)
		for i := range t.Partitions {
			mp := &t.Partitions[i]
			if !slices.Contains(mp.Replicas, self) {
				if s.replicas.Partition(name, mp.Index) != nil {
					s.replicas.Remove(name, mp.Index)
				}
				if live && (relive || wasReplica(prev, t, i, self)) {
					s.removeLog(name, mp.Index, relive)
				}
				continue
			}
			if prev != nil && !reapply {
				if pt := prev.Topic(name); pt != nil && pt.ID == t.ID && i < len(pt.Partitions) && samePartition(&pt.Partitions[i], mp) &&
					s.replicas.Partition(name, mp.Index) != nil {
					continue
				}
			}
			l, ok := s.logs.Get(name, mp.Index)
			if !ok {
				continue
			}
			leader := mp.Leader
			if !registered || (leader == self && !live) {
				leader = -1 // not until this incarnation is registered (and unfenced, to lead)
			}
			err := s.replicas.Apply(name, mp.Index, l, replica.State{
				Leader: leader, LeaderEpoch: mp.LeaderEpoch, PartitionEpoch: mp.PartitionEpoch,
				Replicas: mp.Replicas, ISR: mp.ISR,
			})
			if err != nil {
				s.logger.Error("apply partition state", "topic", name, "partition", mp.Index, "err", err)
			}
		}
	}
}

// removeLog deletes the log of a partition this broker is no longer a
// replica of: reassigned away (KIP-455), seen while live, or a stray found
// when the broker becomes live. Never while it replays an image it is not
// yet registered in: a restarted broker replays records its earlier
// incarnation acted on, and a replica removed and later added back (and
// caught up into the ISR) would see the old removal again and lose the log
// the latest metadata counts on (internal/sim seeds 212 and 488 with
// -sim.readd: an empty ISR member, elected, lost acknowledged writes).
// Kafka, too, deletes stray logs only against the current metadata.
func (s *Server) removeLog(topic string, partition int32, stray bool) {
	if _, ok := s.logs.Get(topic, partition); !ok {
		return
	}
	if err := s.logs.Remove(topic, partition); err != nil {
		s.logger.Error("remove log of a former replica", "topic", topic, "partition", partition, "err", err)
		return
	}
	s.logger.Info("log of a former replica removed", "topic", topic, "partition", partition, "stray", stray)
}

// selfRegistered reports whether im holds this incarnation's registration
// (fenced or not): the image is at least as new as the metadata the broker
// had caught up with when it registered. Always true on a single node.
func (s *Server) selfRegistered(im *metadata.Image) bool {
	if s.quorum == nil {
		return true
	}
	epoch := s.quorum.epoch.Load()
	r := im.Registration(s.cfg.NodeID)
	return epoch > 0 && r != nil && r.Epoch == epoch
}

// wasReplica reports whether prev listed self as a replica of partition i
// of t (the same topic id).
func wasReplica(prev *metadata.Image, t *metadata.Topic, i int, self int32) bool {
	if prev == nil {
		return false
	}
	pt := prev.Topic(t.Name)
	return pt != nil && pt.ID == t.ID && i < len(pt.Partitions) && slices.Contains(pt.Partitions[i].Replicas, self)
}

func samePartition(a, b *metadata.Partition) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR)
}

// storeAlter commits AlterPartition proposals to the metadata store (the
// controller's job once the raft quorum exists).
type storeAlter struct{ meta *metadata.Store }

func (a storeAlter) AlterPartition(_ context.Context, req replica.AlterPartitionRequest) error {
	err := a.meta.AlterPartition(req.Topic, req.Partition, req.LeaderID, req.LeaderEpoch, req.PartitionEpoch, req.NewISR)
	return adapt.AlterError(err)
}

// selfLive reports whether this broker may lead: always on a single node;
// in a cluster once im holds its current registration (the broker epoch it
// registered with), unfenced, and while the broker holds its lease
// (controller.go brokerLease, docs/adr/0009-broker-lease.md): a broker
// whose heartbeats have gone unanswered for most of its session may have
// been fenced by a controller it cannot hear, and leads nothing. A lease
// taken up again after a lapse needs an image at least as new as the
// metadata the broker caught up with then.
func (s *Server) selfLive(im *metadata.Image) bool {
	if s.quorum == nil {
		return true
	}
	return s.selfRegistered(im) && !im.Registration(s.cfg.NodeID).Fenced && s.quorum.lease.holds(im.Offset)
}
