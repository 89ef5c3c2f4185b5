package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Voter is one entry of controller.quorum.voters: a controller's node id and
// the HOST:PORT of its CONTROLLER listener.
type Voter struct {
	ID   int32
	Host string
	Port int32
}

// Addr is the voter's HOST:PORT.
func (v Voter) Addr() string { return joinHostPort(v.Host, v.Port) }

// Quorum reports whether the node runs in cluster mode (process.roles is
// set): it is a member of the raft metadata quorum. Otherwise it is the
// single-node mode: one broker with its own controller and the metadata in
// a local file.
func (b *Broker) Quorum() bool { return len(b.ProcessRoles) > 0 }

// IsController reports whether process.roles names controller.
func (b *Broker) IsController() bool { return slices.Contains(b.ProcessRoles, "controller") }

// IsBroker reports whether the node serves clients: process.roles names
// broker, or the single-node mode.
func (b *Broker) IsBroker() bool { return !b.Quorum() || slices.Contains(b.ProcessRoles, "broker") }

// ValidateQuorum checks the cluster-mode keys against each other, as Kafka
// does at start-up (KafkaConfig.validateValues).
func (b *Broker) ValidateQuorum() error {
	if !b.Quorum() {
		return nil
	}
	if len(b.Voters) == 0 {
		return fmt.Errorf("config: controller.quorum.voters is required when process.roles is set")
	}
	isVoter := slices.ContainsFunc(b.Voters, func(v Voter) bool { return v.ID == b.NodeID })
	if b.IsController() != isVoter {
		if isVoter {
			return fmt.Errorf("config: node.id %d is in controller.quorum.voters but process.roles %v lacks controller", b.NodeID, b.ProcessRoles)
		}
		return fmt.Errorf("config: process.roles %v names controller but node.id %d is not in controller.quorum.voters", b.ProcessRoles, b.NodeID)
	}
	if b.IsController() && b.ControllerListen == "" {
		return fmt.Errorf("config: a controller needs a listener named in controller.listener.names %v in listeners", b.ControllerListenerNames)
	}
	if b.NodeID <= 0 {
		return fmt.Errorf("config: node.id must be positive in cluster mode, got %d", b.NodeID)
	}
	return nil
}

// ParseVoters parses controller.quorum.voters: id@host:port,…
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	for _, e := range splitList(s) {
		id, hp, ok := strings.Cut(e, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q: want id@host:port", e)
		}
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("voter %q: bad id", e)
		}
		host, port, err := splitHostPort(hp)
		if err != nil || port == 0 {
			return nil, fmt.Errorf("voter %q: bad address", e)
		}
		if slices.ContainsFunc(out, func(v Voter) bool { return v.ID == int32(n) }) {
			return nil, fmt.Errorf("voter id %d listed twice", n)
		}
		out = append(out, Voter{ID: int32(n), Host: host, Port: port})
	}
	return out, nil
}

func checkVoters(v value) string {
	if _, err := ParseVoters(v.s); err != nil {
		return err.Error()
	}
	return ""
}

func checkRoles(v value) string {
	roles := splitList(v.s)
	for _, r := range roles {
		if r != "broker" && r != "controller" {
			return "Unknown role " + r + "; want broker and/or controller"
		}
	}
	if len(roles) == 0 && strings.TrimSpace(v.s) != "" {
		return "No role"
	}
	return ""
}

func checkListeners(v value) string {
	for _, e := range splitList(v.s) {
		if _, err := parseListener(e); err != nil {
			return "Not a listener NAME://HOST:PORT: " + err.Error()
		}
	}
	if len(splitList(v.s)) == 0 {
		return "No listener"
	}
	return ""
}

// splitListeners returns the client listener (the first whose name is not a
// controller listener name) and the controller listener. A node with only a
// controller listener gets a client listener on the same host, port 0.
func splitListeners(s string, controllerNames []string) (client, controller string) {
	for _, e := range splitList(s) {
		name, _, ok := strings.Cut(e, "://")
		hp, err := parseListener(e)
		if err != nil {
			continue
		}
		if ok && slices.Contains(controllerNames, name) {
			if controller == "" {
				controller = hp
			}
			continue
		}
		if client == "" {
			client = hp
		}
	}
	if client == "" && controller != "" {
		host, _, _ := splitHostPort(controller)
		client = joinHostPort(host, 0)
	}
	return client, controller
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func joinHostPort(host string, port int32) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}
