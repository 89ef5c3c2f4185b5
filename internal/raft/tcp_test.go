package raft

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/kavka-io/kavka/internal/vfs"
)

func TestTCPTransportCluster(t *testing.T) {
	ids := []uint64{1, 2, 3}
	trs := map[uint64]*TCPTransport{}
	for _, id := range ids {
		tr, err := NewTCPTransport(TCPConfig{ID: id, ListenAddr: "127.0.0.1:0", Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		trs[id] = tr
	}
	for _, id := range ids {
		for _, p := range ids {
			trs[id].SetPeer(p, trs[p].Addr().String())
		}
	}
	nodes := map[uint64]*Node{}
	apps := map[uint64]*kvApp{}
	for _, id := range ids {
		app := &kvApp{}
		n, err := Open(Config{ID: id, FS: vfs.NewMem(), Dir: "/raft", Voters: ids, Transport: trs[id],
			TickInterval: 10 * time.Millisecond, Apply: app.Apply, Restore: app.Restore, Snapshot: app.Snapshot, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id], apps[id] = n, app
	}
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	for _, id := range ids {
		n, tr := nodes[id], trs[id]
		g.Go(func() error { return n.Run(ctx) })
		g.Go(func() error { return tr.Run(ctx, n) })
	}
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
		for _, n := range nodes {
			n.Close()
		}
	}()

	deadline := time.Now().Add(10 * time.Second)
	var last uint64
	done := 0
	for done < 20 && time.Now().Before(deadline) {
		var leader *Node
		for _, n := range nodes {
			if n.Status().Role == "leader" {
				leader = n
			}
		}
		if leader == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		idx, err := leader.Propose(pctx, fmt.Appendf(nil, "m%d", done))
		pcancel()
		if err != nil {
			continue
		}
		last = idx
		done++
	}
	if done < 20 {
		t.Fatalf("only %d proposals committed within 10s", done)
	}
	for _, id := range ids {
		for nodes[id].Status().Applied < last && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := apps[id].list(); len(got) != 20 {
			t.Errorf("node %d applied %d items, want 20", id, len(got))
		}
	}
}

// Garbage on a raft port closes that connection and nothing else.
func TestTCPTransportBadInput(t *testing.T) {
	tr, err := NewTCPTransport(TCPConfig{ID: 1, ListenAddr: "127.0.0.1:0", MaxMessageBytes: 1 << 20, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 10)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- tr.Run(ctx, recvFunc(func(id uint64) { got <- id })) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	send := func(frame []byte) {
		t.Helper()
		c, err := net.Dial("tcp", tr.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(frame)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var b [1]byte
		c.Read(b[:]) // returns when the transport closes the connection
	}
	send(binary.BigEndian.AppendUint32(nil, 1<<30))                       // too long: no allocation
	send(append(binary.BigEndian.AppendUint32(nil, 3), 0xff, 0xff, 0xff)) // not a message
	ok, _ := appendFrame(nil, raftpbMessageForTest)                       // a good one still works
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(ok)
	defer c.Close()
	select {
	case id := <-got:
		if id != 2 {
			t.Fatalf("message from %d, want 2", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("good message not delivered")
	}
}

type recvFunc func(from uint64)

func (f recvFunc) Receive(m *raftpb.Message) bool { f(m.GetFrom()); return true }

var raftpbMessageForTest = &raftpb.Message{
	Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(3),
}
