package server

// Cluster mode (process.roles set): the metadata quorum under one owner.
//
// A controller binds its CONTROLLER listener (controller.quorum.voters names
// it) and serves two protocols there, told apart by the fifth byte of the
// first frame: raft messages (internal/raft's TCP framing, whose marshalled
// message starts with a non-zero protobuf tag) are passed to the raft
// transport, which listens on an ephemeral port of the same host; Kafka
// requests (an int16 API key below 256: a zero byte) are passed to the
// broker's own Kafka listener, where the handlers serve BrokerRegistration,
// BrokerHeartbeat, AlterPartition, DescribeQuorum and the forwarded admin
// APIs. A broker that is not a controller is a raft learner: its transport
// listens on an ephemeral port it reports in its registration.
//
// Goroutines, all owned by quorumNode.run and joined before it returns:
// the raft node, the raft transport, the CONTROLLER mux (one pair of copy
// goroutines per proxied connection), the controller timers
// (metadata.Store.RunController) and the broker lifecycle (registration and
// heartbeats). On shutdown the broker first asks for a controlled shutdown
// and a controller hands over leadership, then raft stops.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sync/errgroup"

	"github.com/kavka-io/kavka/internal/config"
	"github.com/kavka-io/kavka/internal/handler"
	"github.com/kavka-io/kavka/internal/metadata"
	"github.com/kavka-io/kavka/internal/metadata/adapt"
	"github.com/kavka-io/kavka/internal/raft"
	"github.com/kavka-io/kavka/internal/vfs"
)

// quorumNode is a cluster-mode server's metadata quorum membership.
type quorumNode struct {
	cfg    *config.Broker
	logger *slog.Logger
	meta   *metadata.Store
	node   *raft.Node
	tr     *raft.TCPTransport
	mux    net.Listener // CONTROLLER listener; nil on a broker-only node
	kafka  func() net.Addr
	rpc    *rpcClient
	voters map[int32]string // voter id → CONTROLLER address

	dir *logDirState // the broker's log directory (logdir.go), set by New
	// movedAway, set by New, applies an image in which this broker leads
	// nothing to its replicas at once, during the controlled shutdown:
	// runSync may already have stopped, and the acks=all produces waiting on
	// the partitions that moved must be answered NOT_LEADER_OR_FOLLOWER now,
	// not at their timeout.
	movedAway func(*metadata.Image)
	epoch     atomic.Int64 // this broker's epoch; 0 until registered
	lease     *brokerLease // this broker's right to lead partitions (lease.go section below)
	paused    atomic.Bool  // tests: heartbeats stopped, as if the broker hung
	cut       atomic.Bool  // tests: heartbeats fail and raft messages in are dropped, as if the links to the controllers were cut
	next      atomic.Int32 // the voter a learner without a leader asks next

	peersMu sync.Mutex
	peers   map[int32]string // raft addresses given to the transport; guarded by peersMu
}

// ClusterIDFromVoters derives the cluster id of a cluster whose cluster.id
// is not configured from its controller.quorum.voters, so that every node
// agrees without a formatting step (Kafka's kafka-storage format).
func ClusterIDFromVoters(voters []config.Voter) string {
	ids := slices.Clone(voters)
	slices.SortFunc(ids, func(a, b config.Voter) int { return int(a.ID) - int(b.ID) })
	h := sha256.New()
	h.Write([]byte("kavka-cluster"))
	for _, v := range ids {
		fmt.Fprintf(h, ",%d@%s", v.ID, v.Addr())
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// openQuorum opens the cluster-mode metadata store and its raft node and
// transport (bound, not running). kafkaAddr is the broker's Kafka listener.
func openQuorum(fsys vfs.FS, cfg *config.Broker, logger *slog.Logger, opts metadata.Options, kafkaAddr func() net.Addr) (q *quorumNode, err error) {
	if err := cfg.ValidateQuorum(); err != nil {
		return nil, err
	}
	if opts.ClusterID == "" {
		opts.ClusterID = ClusterIDFromVoters(cfg.Voters)
	}
	meta, err := metadata.OpenReplicated(fsys, cfg.DataDir, opts, metadata.QuorumOptions{
		SessionTimeout: time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	q = &quorumNode{cfg: cfg, logger: logger, meta: meta, kafka: kafkaAddr, voters: map[int32]string{}, peers: map[int32]string{},
		rpc: newRPCClient(fmt.Sprintf("kavka-broker-%d", cfg.NodeID)), lease: newBrokerLease(leaseDuration(cfg), logger)}
	opened := q // the deferred cleanup runs after `return nil, err` has set q to nil
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	peers := map[uint64]string{}
	var voterIDs []uint64
	for _, v := range cfg.Voters {
		q.voters[v.ID] = v.Addr()
		voterIDs = append(voterIDs, uint64(v.ID))
	}
	raftHost := ""
	if cfg.IsController() {
		if q.mux, err = net.Listen("tcp", cfg.ControllerListen); err != nil {
			return nil, fmt.Errorf("listen on the controller listener: %w", err)
		}
		raftHost, _, _ = net.SplitHostPort(cfg.ControllerListen)
	} else {
		raftHost, _, _ = net.SplitHostPort(cfg.Listen)
	}
	q.tr, err = raft.NewTCPTransport(raft.TCPConfig{ID: uint64(cfg.NodeID), ListenAddr: net.JoinHostPort(raftHost, "0"), Peers: peers, Logger: logger})
	if err != nil {
		return nil, err
	}
	for id, addr := range q.voters {
		if id != cfg.NodeID {
			q.tr.SetPeer(uint64(id), addr)
		}
	}
	q.node, err = raft.Open(raft.Config{
		ID:        uint64(cfg.NodeID),
		FS:        fsys,
		Dir:       fsys.PathJoin(cfg.DataDir, metadata.ClusterMetadataTopic+"-0", "raft"),
		Voters:    voterIDs,
		Transport: q.tr,
		Apply:     meta.ApplyCommitted,
		Restore:   meta.RestoreSnapshot,
		Snapshot:  meta.SnapshotData,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	meta.SetQuorum(raftQuorum{q}, forwarder{q})
	// Every member learns the learners' raft addresses from the image, so
	// that whoever becomes leader can push the log to them.
	q.syncPeers(meta.Subscribe(func(_, next *metadata.Image) { q.syncPeers(next) }))
	return q, nil
}

func (q *quorumNode) syncPeers(im *metadata.Image) {
	q.peersMu.Lock()
	defer q.peersMu.Unlock()
	for _, r := range im.Registrations {
		if r.RaftAddr == "" || r.NodeID == q.cfg.NodeID || q.voters[r.NodeID] != "" || q.peers[r.NodeID] == r.RaftAddr {
			continue
		}
		q.peers[r.NodeID] = r.RaftAddr
		q.tr.SetPeer(uint64(r.NodeID), r.RaftAddr)
	}
}

// close releases what openQuorum opened, when run never ran.
func (q *quorumNode) close() {
	if q.node != nil {
		q.node.Close()
	}
	if q.tr != nil {
		q.tr.Close()
	}
	if q.mux != nil {
		q.mux.Close()
	}
	q.rpc.close()
}

// run runs the quorum until ctx is done, then shuts down in order:
// controlled shutdown of the broker, leadership handed over, raft stopped.
func (q *quorumNode) run(ctx context.Context) error {
	raftCtx, stopRaft := context.WithCancel(context.Background())
	defer stopRaft()
	g, gctx := errgroup.WithContext(raftCtx)
	g.Go(func() error { return q.tr.Run(gctx, raftReceiver{q}) })
	g.Go(func() error { return q.node.Run(gctx) })
	if q.mux != nil {
		g.Go(func() error { return q.serveMux(gctx) })
	}
	if q.cfg.IsController() {
		g.Go(func() error { return q.meta.RunController(gctx) })
	}
	brokerCtx, stopBroker := context.WithCancel(ctx)
	defer stopBroker()
	defer q.lease.stop()
	brokerDone := make(chan struct{})
	if q.cfg.IsBroker() {
		go func() {
			defer close(brokerDone)
			q.brokerLoop(brokerCtx)
		}()
	} else {
		close(brokerDone)
	}
	select {
	case <-ctx.Done():
	case <-gctx.Done():
	}
	stopBroker()
	<-brokerDone
	if gctx.Err() == nil {
		q.shutdown()
	}
	stopRaft()
	err := g.Wait()
	if cerr := q.node.Close(); err == nil {
		err = cerr
	}
	q.rpc.close()
	return err
}

// shutdown is the controlled shutdown: the broker's leaderships move away
// (BrokerHeartbeat WantShutdown until ShouldShutdown), then a controller
// that leads the quorum hands leadership to the most caught-up voter.
// Bounded: a cluster without a quorum cannot move anything.
func (q *quorumNode) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if q.cfg.IsBroker() && q.epoch.Load() > 0 {
		for ctx.Err() == nil {
			res, err := q.heartbeat(ctx, true)
			if err == nil && res.ShouldShutdown {
				q.logger.Info("controlled shutdown: leaderships moved")
				q.awaitLeadershipsReplayed(ctx)
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	st := q.node.Status()
	if !q.cfg.IsController() || st.Leader != st.ID || len(q.voters) < 2 {
		return
	}
	var to uint64
	var best uint64
	for id, p := range st.Progress {
		if id != st.ID && !p.Learner && p.Match >= best {
			to, best = id, p.Match
		}
	}
	if to == 0 {
		return
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer tcancel()
	if err := q.node.TransferLeadership(tctx, to); err != nil {
		q.logger.Warn("controlled shutdown: leadership transfer", "to", to, "err", err)
	} else {
		q.logger.Info("controlled shutdown: quorum leadership handed over", "to", to)
	}
}

// awaitLeadershipsReplayed waits, bounded by ctx, until this broker's own
// metadata image shows that it leads nothing. The controller answers
// ShouldShutdown once the move is committed, possibly before this broker
// has replayed it; raft must keep running until then, so that the
// replicas see the leader change and acks=all produces waiting on them are
// answered NOT_LEADER_OR_FOLLOWER at once (Kafka completes delayed produces
// on a leader change) instead of at their request timeout.
func (q *quorumNode) awaitLeadershipsReplayed(ctx context.Context) {
	for q.meta.Image().LeadsAny(q.cfg.NodeID) && ctx.Err() == nil {
		sleepCtx(ctx, 10*time.Millisecond)
	}
	if im := q.meta.Image(); q.movedAway != nil && !im.LeadsAny(q.cfg.NodeID) {
		q.movedAway(im)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// brokerLoop registers the broker and heartbeats until ctx is done,
// registering again when the controller no longer knows its epoch. Each
// answer renews or revokes the broker's lease (noteHeartbeat).
func (q *quorumNode) brokerLoop(ctx context.Context) {
	interval := min(time.Duration(q.cfg.BrokerHeartbeatIntervalMs)*time.Millisecond, q.lease.dur/3)
	fenced := true
	for ctx.Err() == nil {
		if q.paused.Load() {
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		if q.epoch.Load() == 0 {
			epoch, err := q.register(ctx)
			if err != nil {
				q.logger.Debug("broker registration", "err", err)
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
			q.epoch.Store(epoch)
			q.logger.Info("broker registered", "node", q.cfg.NodeID, "epoch", epoch)
		}
		sent := time.Now()
		res, err := q.heartbeat(ctx, false)
		switch {
		case errors.Is(err, metadata.ErrStaleBrokerEpoch):
			q.logger.Warn("broker epoch no longer current; registering again", "epoch", q.epoch.Load())
			q.lease.revoke()
			q.epoch.Store(0)
			continue
		case err != nil:
			q.logger.Debug("broker heartbeat", "err", err)
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		if res.IsFenced != fenced {
			fenced = res.IsFenced
			q.logger.Info("broker state", "node", q.cfg.NodeID, "fenced", fenced)
		}
		held := q.noteHeartbeat(ctx, sent, res)
		wait := interval
		if fenced || !held {
			wait = min(interval, 100*time.Millisecond) // catching up: ask again soon
		}
		q.dir.sleep(ctx, wait) // a failed log directory is reported at once
	}
}

// noteHeartbeat renews or revokes the lease after a heartbeat sent at
// sent was answered with res, and reports whether the lease holds. A fenced
// answer revokes it. A lease that had lapsed is taken up again only once
// this node's metadata image holds everything committed before the answer
// (a raft ReadIndex): the controller may have fenced this broker and moved
// its leaderships meanwhile, and unfences a broker as soon as it heartbeats
// again, before its image shows the move, so without the barrier the
// broker would lead again from the image it had before the lapse.
func (q *quorumNode) noteHeartbeat(ctx context.Context, sent time.Time, res metadata.HeartbeatResult) bool {
	if res.IsFenced {
		q.lease.revoke()
		return false
	}
	if q.lease.valid() {
		q.lease.renew(sent, -1)
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, q.heartbeatTimeout())
	defer cancel()
	if _, err := q.node.ReadIndex(rctx); err != nil {
		q.logger.Debug("broker lease: metadata read barrier", "err", err)
		return false
	}
	q.lease.renew(sent, q.meta.Image().Offset)
	if !q.lease.valid() {
		return false // the barrier took the whole lease: try again
	}
	q.logger.Info("broker lease held", "node", q.cfg.NodeID, "metadata_offset", q.lease.minOffset.Load())
	return true
}

// register sends BrokerRegistration to the active controller.
func (q *quorumNode) register(ctx context.Context) (int64, error) {
	host, port := q.cfg.AdvertisedHostPort()
	reg := metadata.BrokerRegistration{Broker: metadata.Broker{NodeID: q.cfg.NodeID, Host: host, Port: port, Rack: rack(q.cfg.Rack)}}
	if !q.cfg.IsController() {
		_, p, _ := net.SplitHostPort(q.tr.Addr().String())
		reg.RaftAddr = net.JoinHostPort(host, p)
	}
	if q.meta.QuorumStatus().IsLeader {
		return q.meta.RegisterBroker(reg)
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.Version = 2
	req.BrokerID, req.ClusterID, req.Rack = reg.NodeID, q.meta.Image().ClusterID, reg.Rack
	if _, err := io.ReadFull(rand.Reader, req.IncarnationID[:]); err != nil {
		return 0, err
	}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port, l.SecurityProtocol = "PLAINTEXT", host, uint16(port), 0
	req.Listeners = append(req.Listeners, l)
	if reg.RaftAddr != "" {
		rh, rp, _ := net.SplitHostPort(reg.RaftAddr)
		n, _ := strconv.Atoi(rp)
		l.Name, l.Host, l.Port = handler.RaftListenerName, rh, uint16(n)
		req.Listeners = append(req.Listeners, l)
	}
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if err := q.toController(ctx, req, resp); err != nil {
		return 0, err
	}
	if err := codeError(resp.ErrorCode, nil); err != nil {
		return 0, err
	}
	return resp.BrokerEpoch, nil
}

// heartbeat sends one BrokerHeartbeat to the active controller, waiting
// at most heartbeatTimeout for the answer.
func (q *quorumNode) heartbeat(ctx context.Context, wantShutdown bool) (metadata.HeartbeatResult, error) {
	ctx, cancel := context.WithTimeout(ctx, q.heartbeatTimeout())
	defer cancel()
	if q.cut.Load() {
		<-ctx.Done() // a silent link: the request is never answered
		return metadata.HeartbeatResult{}, fmt.Errorf("heartbeat: %w (test: links to the controllers cut)", ctx.Err())
	}
	hb := metadata.Heartbeat{NodeID: q.cfg.NodeID, Epoch: q.epoch.Load(), MetadataOffset: q.meta.Image().Offset, WantShutdown: wantShutdown,
		LogDirOffline: q.dir.offline.Load()}
	if q.meta.QuorumStatus().IsLeader {
		return q.meta.BrokerHeartbeat(hb)
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.Version = 1
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantShutdown = hb.NodeID, hb.Epoch, hb.MetadataOffset, hb.WantShutdown
	if hb.LogDirOffline {
		req.OfflineLogDirs = [][16]byte{logDirID(q.cfg.DataDir)}
	}
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	if err := q.toController(ctx, req, resp); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	if err := codeError(resp.ErrorCode, nil); err != nil {
		return metadata.HeartbeatResult{}, err
	}
	return metadata.HeartbeatResult{IsCaughtUp: resp.IsCaughtUp, IsFenced: resp.IsFenced, ShouldShutdown: resp.ShouldShutdown}, nil
}

// heartbeatTimeout is a third of broker.session.timeout.ms (at least the
// heartbeat interval). A heartbeat sent to a controller that stopped
// answering without closing the connection (a silent partition, a paused
// process) must give up well within the session that a newly elected
// controller grants from its election on: waiting toController's 10 s,
// every broker whose heartbeat was stuck on the old controller was fenced
// although it could reach the new one, and each partition's ISR shrank to
// its last fenced member, the isolated node (test/chaos F6).
func (q *quorumNode) heartbeatTimeout() time.Duration {
	return max(time.Duration(q.cfg.BrokerSessionTimeoutMs)*time.Millisecond/3, time.Duration(q.cfg.BrokerHeartbeatIntervalMs)*time.Millisecond)
}

// toController sends req to the active controller as this node knows it.
// A learner that is not a member yet knows no leader: it tries the voters in
// turn, moving on after each failure (NOT_CONTROLLER included), as Kafka's
// brokers walk controller.quorum.voters.
func (q *quorumNode) toController(ctx context.Context, req kmsg.Request, resp kmsg.Response) error {
	addr, ok := q.voters[int32(q.node.Status().Leader)]
	if !ok {
		ids := make([]int32, 0, len(q.voters))
		for id := range q.voters {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		addr = q.voters[ids[int(q.next.Add(1))%len(ids)]]
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return q.rpc.roundTrip(rctx, addr, req, resp)
}

// serveMux accepts connections on the CONTROLLER listener and hands each to
// the raft transport or the Kafka listener.
func (q *quorumNode) serveMux(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		q.mux.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	track := func(c net.Conn, add bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if add {
			if ctx.Err() != nil {
				return false
			}
			conns[c] = struct{}{}
		} else {
			delete(conns, c)
		}
		return true
	}
	var err error
	for {
		c, aerr := q.mux.Accept()
		if aerr != nil {
			if ctx.Err() == nil && !errors.Is(aerr, net.ErrClosed) {
				err = fmt.Errorf("controller listener: %w", aerr)
			}
			break
		}
		if !track(c, true) {
			c.Close()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer track(c, false)
			q.proxy(c, track)
		}()
	}
	q.mux.Close()
	wg.Wait()
	return err
}

// proxy peeks at the first frame of c and splices it to its backend.
func (q *quorumNode) proxy(c net.Conn, track func(net.Conn, bool) bool) {
	defer c.Close()
	var head [5]byte
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	backend := q.tr.Addr().String()
	if head[4] == 0 { // an int16 API key below 256: Kafka
		backend = q.kafka().String()
	}
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		return
	}
	if !track(b, true) {
		b.Close()
		return
	}
	defer track(b, false)
	defer b.Close()
	if _, err := b.Write(head[:]); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	b.Close()
	c.Close()
	<-done
}

// brokerClient sends requests to other brokers' Kafka listeners (as
// advertised in the metadata image) over the quorum's RPC connections.
type brokerClient struct{ q *quorumNode }

func (b brokerClient) Request(ctx context.Context, node int32, req kmsg.Request, resp kmsg.Response) error {
	br := b.q.meta.Image().Broker(node)
	if br == nil {
		return fmt.Errorf("broker %d is not live", node)
	}
	return b.q.rpc.roundTrip(ctx, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))), req, resp)
}

// brokers returns the client for other brokers, nil on a single node.
func (s *Server) brokers() handler.BrokerClient {
	if s.quorum == nil {
		return nil
	}
	return brokerClient{s.quorum}
}

// raftQuorum adapts the raft node to metadata.Quorum.
type raftQuorum struct{ q *quorumNode }

func (r raftQuorum) Propose(ctx context.Context, data []byte) (uint64, error) {
	idx, err := r.q.node.Propose(ctx, data)
	var nl *raft.NotLeaderError
	if errors.As(err, &nl) && !nl.Indeterminate {
		return 0, fmt.Errorf("%w: %w", metadata.ErrNotController, err)
	}
	return idx, err
}

func (r raftQuorum) ReadIndex(ctx context.Context) (uint64, error) { return r.q.node.ReadIndex(ctx) }

func (r raftQuorum) Status() metadata.QuorumStatus { return adapt.QuorumStatus(r.q.node.Status()) }

func (r raftQuorum) AddLearner(ctx context.Context, id int32, addr string) error {
	r.q.peersMu.Lock()
	r.q.peers[id] = addr
	r.q.peersMu.Unlock()
	r.q.tr.SetPeer(uint64(id), addr)
	for {
		st := r.q.node.Status()
		if slices.Contains(st.Voters, uint64(id)) || slices.Contains(st.Learners, uint64(id)) {
			return nil
		}
		err := r.q.node.AddLearner(ctx, uint64(id))
		if !errors.Is(err, raft.ErrConfChangeInProgress) {
			return err
		}
		sleepCtx(ctx, 50*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// forwarder sends a broker's metadata mutations to the active controller
// with Kafka's own admin APIs (as KIP-590 forwarding does, without the
// Envelope: the broker has already decoded and checked the request).
type forwarder struct{ q *quorumNode }

func (f forwarder) Forward(ctx context.Context, controller int32, cmd *metadata.Command) error {
	addr, ok := f.q.voters[controller]
	if !ok {
		return fmt.Errorf("%w: controller %d has no address", metadata.ErrNotController, controller)
	}
	switch cmd.Op {
	case metadata.OpCreateTopic:
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = 5, 30000
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = cmd.Create.Name, cmd.Create.Partitions, cmd.Create.ReplicationFactor
		for p, replicas := range cmd.Create.Assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, replicas
			t.ReplicaAssignment = append(t.ReplicaAssignment, a)
		}
		for k, v := range cmd.Create.Configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, &v
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		return f.forward(ctx, addr, req, resp, sole(&resp.Topics, func(r *kmsg.CreateTopicsResponseTopic) (int16, *string) { return r.ErrorCode, r.ErrorMessage }))
	case metadata.OpDeleteTopic, metadata.OpDeleteTopicByID:
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version, req.TimeoutMillis = 6, 30000
		t := kmsg.NewDeleteTopicsRequestTopic()
		if cmd.Op == metadata.OpDeleteTopic {
			t.Topic = &cmd.Topic
		} else {
			t.TopicID = cmd.TopicID
		}
		req.Topics = append(req.Topics, t)
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		return f.forward(ctx, addr, req, resp, sole(&resp.Topics, func(r *kmsg.DeleteTopicsResponseTopic) (int16, *string) { return r.ErrorCode, r.ErrorMessage }))
	case metadata.OpCreatePartitions:
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version, req.TimeoutMillis = 3, 30000
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = cmd.Topic, cmd.Total
		if cmd.Assignment != nil {
			t.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{}
			for _, replicas := range cmd.Assignment {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = replicas
				t.Assignment = append(t.Assignment, a)
			}
		}
		req.Topics = append(req.Topics, t)
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		return f.forward(ctx, addr, req, resp, sole(&resp.Topics, func(r *kmsg.CreatePartitionsResponseTopic) (int16, *string) { return r.ErrorCode, r.ErrorMessage }))
	case metadata.OpSetTopicConfigs:
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Version = 2
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, cmd.Topic
		for k, v := range cmd.Configs {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = k, &v
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
		return f.forward(ctx, addr, req, resp, sole(&resp.Resources, func(r *kmsg.AlterConfigsResponseResource) (int16, *string) { return r.ErrorCode, r.ErrorMessage }))
	case metadata.OpAlterPartition:
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version = 1
		req.BrokerID, req.BrokerEpoch = cmd.LeaderID, f.q.epoch.Load()
		if req.BrokerEpoch == 0 {
			req.BrokerEpoch = -1
		}
		t := kmsg.NewAlterPartitionRequestTopic()
		t.Topic = cmd.Topic
		p := kmsg.NewAlterPartitionRequestTopicPartition()
		p.Partition, p.LeaderEpoch, p.PartitionEpoch, p.NewISR = cmd.Partition, cmd.LeaderEpoch, cmd.PartEpoch, cmd.ISR
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
		return f.forward(ctx, addr, req, resp, func() (int16, *string, bool) {
			switch {
			case resp.ErrorCode != 0:
				return resp.ErrorCode, nil, true
			case len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
				return 0, nil, false
			}
			return resp.Topics[0].Partitions[0].ErrorCode, nil, true
		})
	case metadata.OpElectLeaders:
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version, req.TimeoutMillis = 2, 30000
		if cmd.Unclean {
			req.ElectionType = 1
		}
		if cmd.Partitions != nil {
			req.Topics = []kmsg.ElectLeadersRequestTopic{}
			for name, idxs := range cmd.Partitions {
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = name, idxs
				req.Topics = append(req.Topics, t)
			}
		}
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		if err := f.forward(ctx, addr, req, resp, func() (int16, *string, bool) { return resp.ErrorCode, nil, true }); err != nil {
			return err
		}
		cmd.ElectResults = partitionResults(resp.Topics, func(t *kmsg.ElectLeadersResponseTopic) (string, []kmsg.ElectLeadersResponseTopicPartition) {
			return t.Topic, t.Partitions
		}, func(p *kmsg.ElectLeadersResponseTopicPartition) (int32, int16, *string) {
			return p.Partition, p.ErrorCode, p.ErrorMessage
		})
		return nil
	case metadata.OpDescribeQuorum:
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = 1
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = metadata.ClusterMetadataTopic
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		err := f.forward(ctx, addr, req, resp, func() (int16, *string, bool) {
			switch {
			case resp.ErrorCode != 0:
				return resp.ErrorCode, resp.ErrorMessage, true
			case len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
				return 0, nil, false
			}
			p := &resp.Topics[0].Partitions[0]
			return p.ErrorCode, p.ErrorMessage, true
		})
		if err != nil {
			return err
		}
		p := &resp.Topics[0].Partitions[0]
		qs := &metadata.QuorumStatus{Leader: p.LeaderID, Term: uint64(max(p.LeaderEpoch, 0)), Commit: uint64(max(p.HighWatermark, 0))}
		for _, v := range p.CurrentVoters {
			qs.Voters = append(qs.Voters, v.ReplicaID)
			qs.Progress = append(qs.Progress, metadata.ReplicaProgress{ID: v.ReplicaID, LogEnd: v.LogEndOffset})
		}
		for _, o := range p.Observers {
			qs.Learners = append(qs.Learners, o.ReplicaID)
			qs.Progress = append(qs.Progress, metadata.ReplicaProgress{ID: o.ReplicaID, LogEnd: o.LogEndOffset, Learner: true})
		}
		cmd.Quorum = qs
		return nil
	case metadata.OpReassign:
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.Version, req.TimeoutMillis, req.AllowReplicationFactorChange = 1, 30000, true
		for name, parts := range cmd.Reassign {
			t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			t.Topic = name
			for idx, replicas := range parts {
				p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				p.Partition, p.Replicas = idx, replicas
				t.Partitions = append(t.Partitions, p)
			}
			req.Topics = append(req.Topics, t)
		}
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		if err := f.forward(ctx, addr, req, resp, func() (int16, *string, bool) { return resp.ErrorCode, resp.ErrorMessage, true }); err != nil {
			return err
		}
		cmd.ElectResults = partitionResults(resp.Topics, func(t *kmsg.AlterPartitionAssignmentsResponseTopic) (string, []kmsg.AlterPartitionAssignmentsResponseTopicPartition) {
			return t.Topic, t.Partitions
		}, func(p *kmsg.AlterPartitionAssignmentsResponseTopicPartition) (int32, int16, *string) {
			return p.Partition, p.ErrorCode, p.ErrorMessage
		})
		return nil
	}
	return fmt.Errorf("BUG: forward of unknown op %q", cmd.Op)
}

// sole is forward's result for an answer that must hold exactly one entry
// in *rs (the one topic or resource asked for): that entry's error code and
// message, as get reads them.
func sole[T any](rs *[]T, get func(*T) (int16, *string)) func() (int16, *string, bool) {
	return func() (int16, *string, bool) {
		if len(*rs) != 1 {
			return 0, nil, false
		}
		code, msg := get(&(*rs)[0])
		return code, msg, true
	}
}

// partitionResults gathers the per-partition outcomes of an answer as
// Command.ElectResults holds them: split gives a topic's name and
// partitions, result a partition's index, error code and message.
func partitionResults[T, P any](topics []T, split func(*T) (string, []P), result func(*P) (int32, int16, *string)) map[string]map[int32]error {
	out := map[string]map[int32]error{}
	for i := range topics {
		name, ps := split(&topics[i])
		m := map[int32]error{}
		for j := range ps {
			idx, code, msg := result(&ps[j])
			m[idx] = codeError(code, msg)
		}
		out[name] = m
	}
	return out
}

// forward sends req to the controller at addr, reads the answer into resp
// and turns it into an error: result picks out of resp the error code and
// message that decide the outcome (the response-level code where the API
// has one and it is set, otherwise that of the one result req asked for),
// and reports false when the answer does not hold that result.
func (f forwarder) forward(ctx context.Context, addr string, req kmsg.Request, resp kmsg.Response, result func() (code int16, msg *string, ok bool)) error {
	if err := f.q.rpc.roundTrip(ctx, addr, req, resp); err != nil {
		return err
	}
	code, msg, ok := result()
	if !ok {
		return fmt.Errorf("forward %s: malformed response", kmsg.NameForKey(req.Key()))
	}
	return codeError(code, msg)
}

// codeError turns a Kafka error code from the controller back into the
// metadata package's error, keeping the controller's message.
func codeError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	var kind error
	switch code {
	case kerr.NotController.Code:
		kind = metadata.ErrNotController
	case kerr.TopicAlreadyExists.Code:
		kind = metadata.ErrTopicExists
	case kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code:
		kind = metadata.ErrUnknownTopic
	case kerr.InvalidTopicException.Code:
		kind = metadata.ErrInvalidTopic
	case kerr.InvalidPartitions.Code:
		kind = metadata.ErrInvalidPartitions
	case kerr.InvalidReplicationFactor.Code:
		kind = metadata.ErrInvalidReplicationFactor
	case kerr.InvalidReplicaAssignment.Code:
		kind = metadata.ErrInvalidReplicaAssignment
	case kerr.InvalidConfig.Code:
		kind = metadata.ErrInvalidConfig
	case kerr.InvalidRequest.Code:
		kind = metadata.ErrInvalidRequest
	case kerr.PolicyViolation.Code:
		kind = metadata.ErrPolicyViolation
	case kerr.StaleBrokerEpoch.Code:
		kind = metadata.ErrStaleBrokerEpoch
	case kerr.InvalidUpdateVersion.Code, kerr.FencedLeaderEpoch.Code, kerr.NotLeaderForPartition.Code:
		kind = metadata.ErrStalePartitionState
	case kerr.IneligibleReplica.Code:
		kind = metadata.ErrIneligibleReplica
	case kerr.ElectionNotNeeded.Code:
		kind = metadata.ErrElectionNotNeeded
	case kerr.PreferredLeaderNotAvailable.Code:
		kind = metadata.ErrPreferredLeaderNotAvailable
	case kerr.EligibleLeadersNotAvailable.Code:
		kind = metadata.ErrEligibleLeadersNotAvailable
	case kerr.NoReassignmentInProgress.Code:
		kind = metadata.ErrNoReassignment
	case kerr.RequestTimedOut.Code:
		kind = context.DeadlineExceeded
	default:
		kind = kerr.ErrorForCode(code)
	}
	text := kind.Error()
	if msg != nil && *msg != "" {
		text = *msg
	}
	return &metadata.Error{Kind: kind, Msg: text}
}

// rpcClient sends Kafka requests to controllers, one connection per
// address, one request at a time per connection.
type rpcClient struct {
	fmt   *kmsg.RequestFormatter
	mu    sync.Mutex
	conns map[string]*rpcConn // guarded by mu
}

type rpcConn struct {
	mu   sync.Mutex
	c    net.Conn // guarded by mu
	corr int32    // guarded by mu
}

func newRPCClient(clientID string) *rpcClient {
	return &rpcClient{fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), conns: map[string]*rpcConn{}}
}

func (r *rpcClient) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, c := range r.conns {
		c.mu.Lock()
		if c.c != nil {
			c.c.Close()
			c.c = nil
		}
		c.mu.Unlock()
		delete(r.conns, addr)
	}
}

const maxRPCResponse = 16 << 20

func (r *rpcClient) roundTrip(ctx context.Context, addr string, req kmsg.Request, resp kmsg.Response) (err error) {
	r.mu.Lock()
	c := r.conns[addr]
	if c == nil {
		c = &rpcConn{}
		r.conns[addr] = c
	}
	r.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		d := net.Dialer{Timeout: 2 * time.Second}
		if c.c, err = d.DialContext(ctx, "tcp", addr); err != nil {
			c.c = nil
			return fmt.Errorf("dial controller %s: %w", addr, err)
		}
	}
	defer func() {
		if err != nil && c.c != nil {
			c.c.Close()
			c.c = nil
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	nc := c.c
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	c.corr++
	if _, err := c.c.Write(r.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		return fmt.Errorf("write to controller %s: %w", addr, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.c, size[:]); err != nil {
		return fmt.Errorf("read from controller %s: %w", addr, err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxRPCResponse {
		return fmt.Errorf("response from controller %s: frame size %d", addr, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		return fmt.Errorf("read from controller %s: %w", addr, err)
	}
	if corr := int32(binary.BigEndian.Uint32(b)); corr != c.corr {
		return fmt.Errorf("response from controller %s: correlation id %d, want %d", addr, corr, c.corr)
	}
	b = b[4:]
	if resp.IsFlexible() {
		if len(b) < 1 || b[0] != 0 {
			return fmt.Errorf("response from controller %s: unexpected header tags", addr)
		}
		b = b[1:]
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(b); err != nil {
		return fmt.Errorf("decode response from controller %s: %w", addr, err)
	}
	return nil
}

// brokerLease is a cluster broker's right to lead partitions
// (docs/adr/0009-broker-lease.md). The active controller fences a broker
// broker.session.timeout.ms after the last heartbeat it received and moves
// its leaderships away; a broker cut off from the controller never hears of
// it, since its metadata comes from the controllers too. The controller
// received a heartbeat no earlier than the broker sent it, so a broker that
// had an answer to a heartbeat sent at t cannot be fenced before
// t+session: until then it may lead. The lease ends a margin earlier
// (leaseDuration), and when it ends the broker leads nothing (selfLive):
// produce gets NOT_LEADER_OR_FOLLOWER, its waiting acks=all produces are
// answered at once, and Metadata names no leader for its partitions, so
// clients look for the new leaders elsewhere.
//
// The lease is measured on the monotonic clock (time.Now's monotonic
// reading): wall-clock jumps (F14) do not move it. valid is an atomic load
// and a clock reading.
type brokerLease struct {
	dur    time.Duration
	base   time.Time // monotonic origin of until
	logger *slog.Logger

	until     atomic.Int64 // nanoseconds after base until which the lease holds; 0: none
	minOffset atomic.Int64 // the lease holds only for an image at or past this metadata offset

	// onChange is called, outside any lock, when the lease may have been
	// lost or regained (the server re-applies its replicas' states). Set
	// before the broker loop runs.
	onChange func()

	mu    sync.Mutex
	timer *time.Timer // guarded by mu: fires when the lease runs out
}

func newBrokerLease(dur time.Duration, logger *slog.Logger) *brokerLease {
	return &brokerLease{dur: dur, base: time.Now(), logger: logger}
}

// leaseDuration is broker.session.timeout.ms less a margin of a quarter of
// it, at most 1 s. The margin covers raft's election timeout (1 s: a
// deposed active controller may answer heartbeats until CheckQuorum makes
// it step down, while the new one counts the session from its own
// election), the time the broker takes to give its leaderships up once the
// lease ends, and scheduling delays.
func leaseDuration(cfg *config.Broker) time.Duration {
	session := time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond
	return session - min(session/4, time.Second)
}

// valid reports whether the lease holds now.
func (l *brokerLease) valid() bool {
	u := l.until.Load()
	return u > 0 && int64(time.Since(l.base)) < u
}

// holds reports whether the lease holds now for an image at offset.
func (l *brokerLease) holds(offset int64) bool {
	return l.valid() && offset >= l.minOffset.Load()
}

// renew extends the lease to sent+dur (never shortens it); minOffset ≥ 0
// also sets the image offset the lease needs (a lease taken up again).
func (l *brokerLease) renew(sent time.Time, minOffset int64) {
	u := int64(sent.Sub(l.base) + l.dur)
	l.mu.Lock()
	was := l.valid()
	if minOffset >= 0 {
		l.minOffset.Store(minOffset)
	}
	if u > l.until.Load() {
		l.until.Store(u)
	}
	if left := time.Duration(l.until.Load()) - time.Since(l.base); left > 0 {
		if l.timer == nil {
			l.timer = time.AfterFunc(left, l.expired)
		} else {
			l.timer.Reset(left)
		}
	}
	now := l.valid()
	l.mu.Unlock()
	if now != was {
		l.changed()
	}
}

// revoke ends the lease now (a fenced answer, a broker epoch the controller
// no longer knows).
func (l *brokerLease) revoke() {
	l.mu.Lock()
	was := l.valid()
	l.until.Store(0)
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	if was {
		l.logger.Warn("broker lease revoked: leading nothing", "lease", l.dur)
		l.changed()
	}
}

// expired runs on the timer's goroutine when the lease may have run out.
func (l *brokerLease) expired() {
	if !l.valid() {
		l.logger.Warn("broker lease expired: no heartbeat answered by an active controller in time; leading nothing", "lease", l.dur)
		l.changed()
	}
}

func (l *brokerLease) changed() {
	if l.onChange != nil {
		l.onChange()
	}
}

// stop stops the expiry timer (the quorum is stopping).
func (l *brokerLease) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
}

// leaseChanged makes runSync apply every replica's state again (the lease
// is part of selfLive) from the newest image: a broker that lost its lease
// leads nothing, and its acks=all produces waiting for followers are
// answered NOT_LEADER_OR_FOLLOWER. Called from the broker loop or the
// lease's timer; it never blocks.
func (s *Server) leaseChanged() {
	s.syncNext.CompareAndSwap(nil, s.meta.Image())
	select {
	case s.syncWake <- struct{}{}:
	default:
	}
}

// raftReceiver passes inbound raft messages to the node, except while a
// test has cut this node's links (quorumNode.cut).
type raftReceiver struct{ q *quorumNode }

func (r raftReceiver) Receive(m *raftpb.Message) bool {
	if r.q.cut.Load() {
		return true
	}
	return r.q.node.Receive(m)
}

func (r raftReceiver) ReportUnreachable(id uint64) { r.q.node.ReportUnreachable(id) }
