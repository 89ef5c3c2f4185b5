package metadata

import (
	"slices"
	"time"
)

// Automatic preferred-leader rebalancing (auto.leader.rebalance.enable).
//
// A partition's preferred leader is the first of its replicas. After a
// broker comes back, the partitions it led have moved to others; the active
// controller moves them back every leader.imbalance.check.interval.seconds.
// As the ZooKeeper-era controller did (KafkaController.checkAndTriggerAutoLeaderRebalance),
// it acts for a preferred broker only when the share of its preferred
// partitions led by another broker is above
// leader.imbalance.per.broker.percentage; then it elects the preferred
// replica of each such partition where that replica is live and in the ISR.
// KRaft's controller (KAFKA-13682) ignores the percentage and balances any
// imbalance; setting it to 0 gives that behaviour.

// balanceConfig is the controller's view of the rebalancing keys.
type balanceConfig struct {
	enabled  bool
	interval time.Duration
	percent  int32
}

func (s *Store) balanceConfig() balanceConfig {
	c := s.opts.Config
	if c == nil {
		return balanceConfig{}
	}
	return balanceConfig{
		enabled:  c.AutoLeaderRebalance,
		interval: time.Duration(c.LeaderImbalanceCheckIntervalSeconds) * time.Second,
		percent:  c.LeaderImbalancePerBrokerPercentage,
	}
}

// preferredElections returns the partition changes that move leadership
// back to preferred replicas on brokers whose imbalance ratio is above
// percent.
func preferredElections(im *Image, percent int32) []record {
	preferred := map[int32]int{}  // broker → partitions it is preferred for
	imbalanced := map[int32]int{} // broker → of those, led by another broker
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			preferred[pref]++
			if p.Leader != pref {
				imbalanced[pref]++
			}
		}
	}
	var recs []record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for i := range t.Partitions {
			p := t.Partitions[i]
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			if p.Leader == pref || !slices.Contains(p.ISR, pref) || !im.Live(pref) {
				continue
			}
			if int64(imbalanced[pref])*100 <= int64(percent)*int64(preferred[pref]) {
				continue
			}
			p.Leader = pref
			p.LeaderEpoch++
			p.PartitionEpoch++
			recs = append(recs, changeRecord(t.ID, p))
		}
	}
	return recs
}
