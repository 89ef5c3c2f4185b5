package metadata

import "testing"

func TestPreferredElections(t *testing.T) {
	mk := func(parts ...Partition) *Image {
		tp := &Topic{Name: "t", ID: [16]byte{1}, Partitions: parts}
		return &Image{Brokers: []Broker{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}},
			Topics: map[string]*Topic{"t": tp}, TopicsByID: map[[16]byte]*Topic{tp.ID: tp}, names: []string{"t"}}
	}
	p := func(i, leader int32, replicas, isr []int32) Partition {
		return Partition{Index: i, Leader: leader, LeaderEpoch: 5, PartitionEpoch: 7, Replicas: replicas, ISR: isr}
	}
	// Broker 1 is preferred for four partitions and leads one: 75% imbalance.
	im := mk(
		p(0, 1, []int32{1, 2}, []int32{1, 2}),
		p(1, 2, []int32{1, 2}, []int32{1, 2}),
		p(2, 2, []int32{1, 2}, []int32{2}), // preferred not in the ISR
		p(3, 3, []int32{1, 3}, []int32{1, 3}),
		p(4, 2, []int32{2, 1}, []int32{1, 2}),
	)
	recs := preferredElections(im, 10)
	if len(recs) != 2 {
		t.Fatalf("got %d elections, want 2 (partitions 1 and 3): %+v", len(recs), recs)
	}
	for i, want := range []int32{1, 3} {
		r := recs[i]
		if r.Partition != want || r.Leader != 1 || r.LeaderEpoch != 6 || r.PartEpoch != 8 {
			t.Errorf("election %d = %+v, want partition %d led by 1 in epoch 6", i, r, want)
		}
	}
	if recs := preferredElections(im, 75); len(recs) != 0 {
		t.Errorf("75%% imbalance with a 75%% allowance: got %d elections, want none", len(recs))
	}
	// A preferred broker that is not live is left alone.
	im.Brokers = im.Brokers[1:]
	if recs := preferredElections(im, 0); len(recs) != 0 {
		t.Errorf("dead preferred broker: got %d elections, want none", len(recs))
	}
}
