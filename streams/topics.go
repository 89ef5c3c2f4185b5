package streams

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// setupTopics checks source topics and co-partitioning, derives each
// sub-topology's partition count and creates missing repartition and
// changelog topics with it.
func (a *App) setupTopics(ctx context.Context) error {
	app := a.cfg.appID
	var ext []string
	seen := map[string]bool{}
	addExt := func(t topicRef) {
		if !t.internal && !seen[t.name] {
			seen[t.name] = true
			ext = append(ext, t.name)
		}
	}
	for _, st := range a.topo.subs {
		for _, t := range st.topics {
			addExt(t)
		}
	}
	if a.topo.global != nil {
		for _, t := range a.topo.global.topics {
			addExt(t)
		}
	}
	sort.Strings(ext)
	parts := map[string]int32{}
	if len(ext) > 0 {
		td, err := a.adm.ListTopics(ctx, ext...)
		if err != nil {
			return fmt.Errorf("streams: list source topics: %w", err)
		}
		for _, t := range ext {
			d, ok := td[t]
			if !ok || d.Err != nil {
				return fmt.Errorf("streams: source topic %s is missing (create it first): %v", t, d.Err)
			}
			parts[t] = int32(len(d.Partitions))
		}
	}
	for _, st := range a.topo.subs {
		for _, t := range st.topics {
			if t.internal {
				continue
			}
			if n, ok := a.subParts[st.id]; ok && n != parts[t.name] {
				return fmt.Errorf("streams: topics of sub-topology %d are not co-partitioned: %s has %d partitions, others %d",
					st.id, t.name, parts[t.name], n)
			}
			a.subParts[st.id] = parts[t.name]
		}
	}
	// Sub-topologies fed only by internal topics take the count of the
	// sub-topologies writing to them (or an explicit Partitions).
	for range a.topo.subs {
		for _, w := range a.topo.subs {
			for _, sk := range w.sinks {
				if !sk.topic.internal {
					continue
				}
				r := a.topicSub[sk.topic.resolve(app)]
				if r == nil {
					continue
				}
				if _, ok := a.subParts[r.id]; ok {
					continue
				}
				if sk.partitions > 0 {
					a.subParts[r.id] = sk.partitions
				} else if n, ok := a.subParts[w.id]; ok {
					a.subParts[r.id] = n
				}
			}
		}
	}
	type want struct {
		n   int32
		cfg map[string]*string
	}
	create := map[string]want{}
	for _, st := range a.topo.subs {
		n, ok := a.subParts[st.id]
		if !ok {
			return fmt.Errorf("streams: cannot derive the partition count of sub-topology %d", st.id)
		}
		for _, t := range st.topics {
			if t.internal {
				create[t.resolve(app)] = want{n, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}}
			}
		}
		for _, s := range st.stores {
			d := a.topo.stores[s]
			if d.logged && !d.global {
				create[a.topo.changelogTopic(app, s)] = want{n, d.changelogConfigs()}
			}
		}
	}
	names := sortedKeys(create)
	if len(names) == 0 {
		return nil
	}
	existing, err := a.adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("streams: list internal topics: %w", err)
	}
	for _, name := range names {
		w := create[name]
		if d, ok := existing[name]; ok && d.Err == nil {
			if int32(len(d.Partitions)) != w.n {
				return fmt.Errorf("streams: internal topic %s has %d partitions, want %d", name, len(d.Partitions), w.n)
			}
			continue
		}
		resp, err := a.adm.CreateTopic(ctx, w.n, a.cfg.rf, w.cfg, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("streams: create internal topic %s: %w", name, err)
		}
		a.cfg.logger.Info("streams: created internal topic", "topic", name, "partitions", w.n)
	}
	return nil
}

// bootstrapGlobal fills the global stores from all partitions of their
// topics, up to the current end, and returns the client that keeps them
// up to date (runGlobal).
func (a *App) bootstrapGlobal(ctx context.Context, base []kgo.Opt) (*kgo.Client, error) {
	g := a.topo.global
	storeOf := map[string]string{}
	var topics []string
	for _, src := range g.sources {
		for _, c := range src.children {
			if len(c.stores) > 0 {
				for _, t := range src.topics {
					storeOf[t.name] = c.stores[0]
					topics = append(topics, t.name)
				}
			}
		}
	}
	for _, name := range g.stores {
		d := a.topo.stores[name]
		bs, err := appEnv{a}.openStore(d, TaskID{Subtopology: -1})
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.gstores[name] = bs
		a.mu.Unlock()
	}
	ends, err := a.adm.ListEndOffsets(ctx, topics...)
	if a.cfg.guarantee == ExactlyOnceV2 && err == nil {
		ends, err = a.adm.ListCommittedOffsets(ctx, topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("streams: global topics: %w", err)
	}
	end := map[tp]int64{}
	consume := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if consume[o.Topic] == nil {
			consume[o.Topic] = map[int32]kgo.Offset{}
		}
		consume[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			end[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	opts := append(append([]kgo.Opt{}, base...), kgo.ConsumePartitions(consume), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond))
	if a.cfg.guarantee == ExactlyOnceV2 {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	a.globalStoreOf = storeOf
	n, err := a.catchUp(ctx, cl, end, a.applyGlobal)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("streams: bootstrap global stores: %w", err)
	}
	a.cfg.logger.Info("streams: global stores ready", "records", n)
	return cl, nil
}

func (a *App) applyGlobal(r *kgo.Record) error {
	if r.Attrs.IsControl() || r.Key == nil {
		return nil
	}
	a.mu.RLock()
	s := a.gstores[a.globalStoreOf[r.Topic]]
	a.mu.RUnlock()
	if s == nil {
		return nil
	}
	return s.Put(r.Key, r.Value)
}

// runGlobal is the global thread: it applies global topic updates until
// ctx is done.
func (a *App) runGlobal(ctx context.Context, cl *kgo.Client) error {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			if err == nil {
				err = a.applyGlobal(r)
			}
		})
		if err != nil {
			return fmt.Errorf("streams: global store update: %w", err)
		}
	}
	return nil
}
