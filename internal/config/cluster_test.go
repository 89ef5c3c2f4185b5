package config

import (
	"slices"
	"testing"
)

func TestClusterKeys(t *testing.T) {
	b := Defaults()
	if b.Quorum() || !b.IsBroker() || b.IsController() {
		t.Fatalf("defaults: quorum %v broker %v controller %v, want single-node", b.Quorum(), b.IsBroker(), b.IsController())
	}
	for k, v := range map[string]string{
		"node.id":                  "2",
		"process.roles":            "broker,controller",
		"controller.quorum.voters": "1@127.0.0.11:9093, 2@127.0.0.12:9093,3@127.0.0.13:9093",
		"listeners":                "PLAINTEXT://127.0.0.12:9092,CONTROLLER://127.0.0.12:9093",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.ValidateQuorum(); err != nil {
		t.Fatal(err)
	}
	if b.Listen != "127.0.0.12:9092" || b.ControllerListen != "127.0.0.12:9093" || b.AdvertisedListener != "127.0.0.12:9092" {
		t.Errorf("listen %q controller %q advertised %q", b.Listen, b.ControllerListen, b.AdvertisedListener)
	}
	want := []Voter{{1, "127.0.0.11", 9093}, {2, "127.0.0.12", 9093}, {3, "127.0.0.13", 9093}}
	if !slices.Equal(b.Voters, want) || b.BrokerSessionTimeoutMs != 9000 || b.BrokerHeartbeatIntervalMs != 2000 {
		t.Errorf("voters %v session %d heartbeat %d", b.Voters, b.BrokerSessionTimeoutMs, b.BrokerHeartbeatIntervalMs)
	}
	bad := func(k, v string) {
		t.Helper()
		if err := b.Clone().Set(k, v); err == nil {
			t.Errorf("Set(%s, %q) accepted", k, v)
		}
	}
	bad("controller.quorum.voters", "1@host")
	bad("controller.quorum.voters", "x@h:1")
	bad("controller.quorum.voters", "1@h:1,1@h:2")
	bad("process.roles", "broker,zookeeper")
	c := b.Clone()
	if err := c.Set("process.roles", "broker"); err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateQuorum(); err == nil {
		t.Error("a voter without the controller role validated")
	}
	// A pure controller gets a client listener on port 0 of its host.
	d := Defaults()
	if err := d.Set("listeners", "CONTROLLER://127.0.0.5:9093"); err != nil {
		t.Fatal(err)
	}
	if d.Listen != "127.0.0.5:0" || d.ControllerListen != "127.0.0.5:9093" {
		t.Errorf("pure controller: listen %q controller %q", d.Listen, d.ControllerListen)
	}
}
