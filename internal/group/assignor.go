package group

import (
	"slices"
	"sort"
)

// TopicInfo is what the server-side assignors need to know of a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Topics looks up topics in the broker's metadata. The server implements it
// over the metadata image; it must be safe for concurrent use and cheap
// (it is called on every ConsumerGroupHeartbeat).
type Topics interface {
	Topic(name string) (TopicInfo, bool)
	TopicByID(id [16]byte) (TopicInfo, bool)
	// Names returns every topic name, for regex subscriptions.
	Names() []string
}

// tp is a partition named by topic id, as KIP-848 assignments name them.
type tp struct {
	topic     [16]byte
	partition int32
}

// partSet is a set of partitions.
type partSet map[tp]struct{}

func (s partSet) has(p tp) bool { _, ok := s[p]; return ok }

func (s partSet) clone() partSet {
	c := make(partSet, len(s))
	for p := range s {
		c[p] = struct{}{}
	}
	return c
}

func (s partSet) equal(o partSet) bool {
	if len(s) != len(o) {
		return false
	}
	for p := range s {
		if !o.has(p) {
			return false
		}
	}
	return true
}

// TopicPartitions are partitions of one topic, named by topic id.
type TopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
}

// list returns s grouped by topic, topics by id and partitions ascending.
func (s partSet) list() []TopicPartitions {
	by := make(map[[16]byte][]int32)
	for p := range s {
		by[p.topic] = append(by[p.topic], p.partition)
	}
	out := make([]TopicPartitions, 0, len(by))
	for id, ps := range by {
		slices.Sort(ps)
		out = append(out, TopicPartitions{TopicID: id, Partitions: ps})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].TopicID[:]) < string(out[j].TopicID[:]) })
	return out
}

func setOf(tps []TopicPartitions) partSet {
	s := make(partSet)
	for _, t := range tps {
		for _, p := range t.Partitions {
			s[tp{t.TopicID, p}] = struct{}{}
		}
	}
	return s
}

// assignMember is a member as an assignor sees it.
type assignMember struct {
	id       string
	topics   []TopicInfo // subscribed topics that exist, sorted by name
	previous partSet     // the member's previous target assignment
}

// assignor computes a target assignment on the broker (KIP-848's
// ConsumerGroupPartitionAssignor). It is pure: same input, same output.
type assignor interface {
	assign(members []assignMember) map[string]partSet
}

func assignorByName(name string) assignor {
	switch name {
	case "uniform":
		return uniformAssignor{}
	case "range":
		return rangeAssignor{}
	}
	return nil
}

// uniformAssignor spreads every subscribed partition over the members so
// that the counts of members differ by at most one where their subscriptions
// allow, and keeps each partition with its previous owner where it can
// (mirrors Kafka's UniformAssignor; franz-go's sticky balancer asks for it).
type uniformAssignor struct{}

func (uniformAssignor) assign(members []assignMember) map[string]partSet {
	members = slices.Clone(members)
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	out := make(map[string]partSet, len(members))
	eligible := make(map[[16]byte][]int) // topic → indexes of subscribed members
	var all []tp
	seenTopic := make(map[[16]byte]bool)
	homogeneous := true
	for i, m := range members {
		out[m.id] = make(partSet)
		if i > 0 && !sameTopics(m.topics, members[0].topics) {
			homogeneous = false
		}
		for _, t := range m.topics {
			eligible[t.ID] = append(eligible[t.ID], i)
			if !seenTopic[t.ID] {
				seenTopic[t.ID] = true
				for p := range t.Partitions {
					all = append(all, tp{t.ID, p})
				}
			}
		}
	}
	if len(members) == 0 {
		return out
	}
	load := make([]int, len(members))
	owner := make(map[tp]int, len(all))
	subscribed := func(i int, p tp) bool { return slices.Contains(eligible[p.topic], i) }
	exists := make(partSet, len(all))
	for _, p := range all {
		exists[p] = struct{}{}
	}
	// 1. Stickiness: keep what each member had, up to its fair share when
	// everybody subscribes to the same topics.
	quota := len(all)
	if homogeneous {
		quota = (len(all) + len(members) - 1) / len(members)
	}
	for i, m := range members {
		prev := make([]tp, 0, len(m.previous))
		for p := range m.previous {
			prev = append(prev, p)
		}
		sortTPs(prev)
		for _, p := range prev {
			if load[i] >= quota {
				break
			}
			if _, taken := owner[p]; taken || !exists.has(p) || !subscribed(i, p) {
				continue
			}
			owner[p] = i
			load[i]++
		}
	}
	// 2. Every partition left goes to the least loaded member subscribed to it.
	sortTPs(all)
	for _, p := range all {
		if _, ok := owner[p]; ok {
			continue
		}
		best := -1
		for _, i := range eligible[p.topic] {
			if best < 0 || load[i] < load[best] {
				best = i
			}
		}
		owner[p] = best
		load[best]++
	}
	// 3. Balance: move a partition from a member to a subscribed one that has
	// at least two fewer, until no such move exists. Each move lowers the sum
	// of squared loads, so the loop ends; the bound is a backstop.
	byMember := make([][]tp, len(members))
	for _, p := range all {
		byMember[owner[p]] = append(byMember[owner[p]], p)
	}
	for range len(all) * len(members) {
		moved := false
		order := make([]int, len(members))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return load[order[a]] > load[order[b]] })
		for _, from := range order {
			for k := len(byMember[from]) - 1; k >= 0 && !moved; k-- {
				p := byMember[from][k]
				to := -1
				for _, i := range eligible[p.topic] {
					if load[i] <= load[from]-2 && (to < 0 || load[i] < load[to]) {
						to = i
					}
				}
				if to < 0 {
					continue
				}
				byMember[from] = slices.Delete(byMember[from], k, k+1)
				byMember[to] = append(byMember[to], p)
				load[from]--
				load[to]++
				moved = true
			}
			if moved {
				break
			}
		}
		if !moved {
			break
		}
	}
	for i, ps := range byMember {
		for _, p := range ps {
			out[members[i].id][p] = struct{}{}
		}
	}
	return out
}

// rangeAssignor gives each member a contiguous range of every topic it
// subscribes to: the members subscribed to a topic, sorted by member id,
// split its partitions in order, the first ones taking one more when they do
// not divide evenly (Kafka's RangeAssignor; co-partitioned topics land
// together).
type rangeAssignor struct{}

func (rangeAssignor) assign(members []assignMember) map[string]partSet {
	members = slices.Clone(members)
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	out := make(map[string]partSet, len(members))
	subs := make(map[[16]byte][]string)
	topics := make(map[[16]byte]TopicInfo)
	for _, m := range members {
		out[m.id] = make(partSet)
		for _, t := range m.topics {
			subs[t.ID] = append(subs[t.ID], m.id)
			topics[t.ID] = t
		}
	}
	for id, ms := range subs {
		n := int(topics[id].Partitions)
		per, extra := n/len(ms), n%len(ms)
		next := 0
		for i, m := range ms {
			cnt := per
			if i < extra {
				cnt++
			}
			for p := next; p < next+cnt; p++ {
				out[m][tp{id, int32(p)}] = struct{}{}
			}
			next += cnt
		}
	}
	return out
}

func sameTopics(a, b []TopicInfo) bool {
	return slices.EqualFunc(a, b, func(x, y TopicInfo) bool { return x.ID == y.ID })
}

func sortTPs(ps []tp) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].topic != ps[j].topic {
			return string(ps[i].topic[:]) < string(ps[j].topic[:])
		}
		return ps[i].partition < ps[j].partition
	})
}
