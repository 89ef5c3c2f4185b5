// Package groups checks consumer groups against a broker process with real
// franz-go consumers: members split partitions and a member that dies
// (its connections cut, no LeaveGroup) loses its partitions to the others
// within the session timeout.
package groups

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

const (
	topic      = "groups"
	partitions = 6
	group      = "split"
	waitFor    = 60 * time.Second
)

// killable dials through a switch that, once flipped, cuts every
// connection and refuses new ones: the member dies without a LeaveGroup.
type killable struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killable) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

func members(t *testing.T, adm *kadm.Client) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	d := ds[group]
	if d.State != "Stable" {
		return nil
	}
	out := make(map[string]int)
	for _, m := range d.Members {
		if c, ok := m.Assigned.AsConsumer(); ok && c != nil {
			for _, tp := range c.Topics {
				out[m.ClientID] += len(tp.Partitions)
			}
		}
	}
	return out
}

// waitMembers polls until the stable group's assignment satisfies ok.
func waitMembers(t *testing.T, adm *kadm.Client, ok func(map[string]int) bool) map[string]int {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var last map[string]int
	for time.Now().Before(deadline) {
		if last = members(t, adm); last != nil && ok(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("group never reached the wanted assignment; last %v", last)
	return nil
}

func TestMembersSplitAndDeadMemberPartitionsMove(t *testing.T) {
	b := harness.Start(t)
	admCl := b.Client()
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var k killable
	newMember := func(id string, dial func(context.Context, string, string) (net.Conn, error)) *kgo.Client {
		opts := []kgo.Opt{
			kgo.ClientID(id), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
		}
		if dial != nil {
			opts = append(opts, kgo.Dialer(dial))
		}
		cl := b.Client(opts...)
		go func() { // poll so the member takes part in rebalances
			for {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
			}
		}()
		return cl
	}
	a := newMember("a", nil)
	defer a.Close()
	c := newMember("c", nil)
	defer c.Close()
	dying := newMember("dying", k.dial)
	defer dying.Close()

	got := waitMembers(t, adm, func(m map[string]int) bool { return len(m) == 3 && m["a"] == 2 && m["c"] == 2 && m["dying"] == 2 })
	t.Logf("three members: %v", got)

	k.kill()
	start := time.Now()
	got = waitMembers(t, adm, func(m map[string]int) bool { return len(m) == 2 && m["a"]+m["c"] == partitions })
	if took := time.Since(start); took > 6*time.Second+5*time.Second {
		t.Errorf("partitions moved after %v, want within the 6s session timeout (plus a rebalance)", took)
	}
	t.Logf("after the member died: %v", got)
}
