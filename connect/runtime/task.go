package runtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kavka-io/kavka/connect"
)

// taskRun is one running task. Its fields are owned by the task goroutine
// (run), except those guarded by pmu, which pause/resume also touch.
type taskRun struct {
	w       *Worker
	id      TaskID
	connCfg map[string]string
	taskCfg map[string]string
	cancel  context.CancelFunc
	done    chan struct{}

	pmu sync.Mutex
	// The fields below are guarded by pmu.
	paused bool
	resume chan struct{} // closed and replaced on resume

	errs       errorPolicy
	chain      *connect.Chain
	keyConv    connect.Converter
	valConv    connect.Converter
	client     *kgo.Client
	errorCount atomic.Int64
}

func (t *taskRun) setPaused(p bool) {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if t.paused == p {
		return
	}
	t.paused = p
	if !p {
		close(t.resume)
		t.resume = make(chan struct{})
	}
	st := StateRunning
	if p {
		st = StatePaused
	}
	t.w.status.TaskStatus(t.id, Status{State: st, WorkerID: t.w.ID()})
}

// waitWhilePaused blocks while the task is paused. It reports false if ctx
// ended.
func (t *taskRun) waitWhilePaused(ctx context.Context) bool {
	for {
		t.pmu.Lock()
		p, ch := t.paused, t.resume
		t.pmu.Unlock()
		if !p {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

func (t *taskRun) converter(kind string, isKey bool) (connect.Converter, error) {
	class, cfg := t.connCfg[kind], connect.SubConfig(t.connCfg, kind+".")
	if class == "" {
		class, cfg = t.w.cfg.Props[kind], connect.SubConfig(t.w.cfg.Props, kind+".")
	}
	if class == "" {
		class = connect.JSONConverterClass
	}
	c, err := connect.NewConverter(class)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if err := c.Configure(cfg, isKey); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return c, nil
}

func (t *taskRun) run(ctx context.Context) (err error) {
	if t.errs, err = parseErrorPolicy(t.connCfg); err != nil {
		return err
	}
	if t.chain, err = connect.NewChain(t.connCfg); err != nil {
		return err
	}
	if t.keyConv, err = t.converter("key.converter", true); err != nil {
		return err
	}
	if t.valConv, err = t.converter("value.converter", false); err != nil {
		return err
	}
	pl, err := t.w.plugins.Lookup(t.connCfg["connector.class"])
	if err != nil {
		return err
	}
	st := StateRunning
	if !t.waitWhilePausedNoBlock() {
		st = StatePaused
	}
	t.w.status.TaskStatus(t.id, Status{State: st, WorkerID: t.w.ID()})
	switch c := pl.New().(type) {
	case connect.SourceConnector:
		return t.runSource(ctx, c.NewTask())
	case connect.SinkConnector:
		return t.runSink(ctx, c.NewTask())
	}
	return fmt.Errorf("connector class %s is neither a source nor a sink", pl.Class)
}

func (t *taskRun) waitWhilePausedNoBlock() bool {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	return !t.paused
}

// taskConfig is the configuration a task starts with: the connector's keys
// overlaid with the task's.
func (t *taskRun) taskConfig() map[string]string {
	m := make(map[string]string, len(t.connCfg)+len(t.taskCfg))
	for k, v := range t.connCfg {
		m[k] = v
	}
	for k, v := range t.taskCfg {
		m[k] = v
	}
	return m
}

// --- source tasks ---------------------------------------------------------

type offsetReader struct {
	ctx   context.Context
	store OffsetStore
	name  string
}

func (r offsetReader) Offset(partition map[string]any) (map[string]any, error) {
	return r.store.Get(r.ctx, r.name, partition)
}

// runSource polls the task, writes its records, and commits source offsets
// only after the records before them are acknowledged (at least once).
func (t *taskRun) runSource(ctx context.Context, task connect.SourceTask) error {
	cl, err := kgo.NewClient(append(t.w.clientOpts(t.connCfg),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(&sourcePartitioner{}),
	)...)
	if err != nil {
		return fmt.Errorf("source task %s: client: %w", t.id, err)
	}
	t.client = cl
	defer cl.Close()

	if err := task.Start(ctx, t.taskConfig(), offsetReader{ctx: ctx, store: t.w.offsets, name: t.id.Connector}); err != nil {
		return fmt.Errorf("start task %s: %w", t.id, err)
	}
	var (
		pending    = map[string]SourceOffset{}
		produceMu  sync.Mutex
		produceErr error
	)
	commit := func(ctx context.Context) error {
		fctx, cancel := context.WithTimeout(ctx, t.w.cfg.OffsetFlushTimeout)
		defer cancel()
		if err := cl.Flush(fctx); err != nil {
			// Not everything is acknowledged yet: keep the offsets for the next try.
			return nil
		}
		produceMu.Lock()
		perr := produceErr
		produceMu.Unlock()
		if perr != nil {
			return perr
		}
		if len(pending) == 0 {
			return nil
		}
		offs := make([]SourceOffset, 0, len(pending))
		for _, o := range pending {
			offs = append(offs, o)
		}
		if err := t.w.offsets.Put(fctx, t.id.Connector, offs); err != nil {
			return fmt.Errorf("commit source offsets: %w", err)
		}
		clear(pending)
		if c, ok := task.(connect.SourceCommitter); ok {
			if err := c.Commit(fctx); err != nil {
				t.w.log.Warn("connect: source task commit", "connector", t.id.Connector, "task", t.id.Task, "err", err)
			}
		}
		return nil
	}
	stop := func(runErr error) error {
		sctx, cancel := context.WithTimeout(context.Background(), t.w.cfg.ShutdownTimeout)
		defer cancel()
		if runErr == nil {
			runErr = commit(sctx)
		}
		if err := task.Stop(sctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("stop task %s: %w", t.id, err)
		}
		return runErr
	}

	nextCommit := time.Now().Add(t.w.cfg.OffsetFlushInterval)
	for {
		if !t.waitWhilePaused(ctx) || ctx.Err() != nil {
			return stop(nil)
		}
		var recs []connect.Record
		err := t.errs.retry(ctx, func() (err error) {
			recs, err = task.Poll(ctx)
			return err
		})
		if ctx.Err() != nil {
			return stop(nil)
		}
		if err != nil {
			return stop(fmt.Errorf("poll: %w", err))
		}
		for i := range recs {
			kr, keep, err := t.toKafka(ctx, recs[i])
			if err != nil {
				return stop(err)
			}
			if keep {
				cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
					if err != nil {
						produceMu.Lock()
						if produceErr == nil {
							produceErr = fmt.Errorf("produce: %w", err)
						}
						produceMu.Unlock()
					}
				})
			}
			if recs[i].SourcePartition != nil {
				k, err := offsetKey(t.id.Connector, recs[i].SourcePartition)
				if err != nil {
					return stop(err)
				}
				pending[k] = SourceOffset{Partition: recs[i].SourcePartition, Offset: recs[i].SourceOffset}
			}
		}
		produceMu.Lock()
		perr := produceErr
		produceMu.Unlock()
		if perr != nil {
			return stop(perr)
		}
		if time.Now().After(nextCommit) {
			if err := commit(ctx); err != nil {
				return stop(err)
			}
			nextCommit = time.Now().Add(t.w.cfg.OffsetFlushInterval)
		}
	}
}

// toKafka transforms and converts a source record. keep=false means it was
// filtered out or its error tolerated.
func (t *taskRun) toKafka(ctx context.Context, r connect.Record) (*kgo.Record, bool, error) {
	fail := func(stage, class string, err error) (*kgo.Record, bool, error) {
		if !t.errs.tolerateAll {
			return nil, false, fmt.Errorf("%s: %w", stage, err)
		}
		return nil, false, t.report(ctx, errantRecord{stage: stage, class: class, err: err, topic: r.Topic})
	}
	var out connect.Record
	var keep bool
	err := t.errs.retry(ctx, func() (err error) {
		out, keep, err = t.chain.Apply(r)
		return err
	})
	if err != nil {
		return fail(StageTransformation, transformClass(err), err)
	}
	if !keep {
		return nil, false, nil
	}
	k, err := t.keyConv.FromConnect(out.Topic, out.KeySchema, out.Key)
	if err != nil {
		return fail(StageKeyConverter, fmt.Sprintf("%T", t.keyConv), err)
	}
	v, err := t.valConv.FromConnect(out.Topic, out.ValueSchema, out.Value)
	if err != nil {
		return fail(StageValueConverter, fmt.Sprintf("%T", t.valConv), err)
	}
	kr := &kgo.Record{Topic: out.Topic, Key: k, Value: v, Timestamp: out.Timestamp}
	if out.Partition >= 0 && r.Partition >= 0 {
		kr.Partition = out.Partition
		kr.Context = context.WithValue(context.Background(), manualPartition{}, true)
	}
	for _, h := range out.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr, true, nil
}

func transformClass(err error) string {
	var te *connect.TransformError
	if errors.As(err, &te) {
		return te.Class
	}
	return ""
}

type manualPartition struct{}

// sourcePartitioner honours a source record's explicit partition and
// otherwise hashes the key as Kafka's default partitioner (murmur2), or
// spreads keyless records round robin.
type sourcePartitioner struct{}

func (*sourcePartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &sourceTopicPartitioner{hash: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
}

type sourceTopicPartitioner struct {
	hash kgo.TopicPartitioner
	next int
}

func (*sourceTopicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p *sourceTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context != nil && r.Context.Value(manualPartition{}) != nil && int(r.Partition) < n {
		return int(r.Partition)
	}
	if r.Key != nil {
		return p.hash.Partition(r, n)
	}
	p.next++
	return p.next % n
}

// --- sink tasks -----------------------------------------------------------

type sinkContext struct {
	mu       sync.Mutex
	assigned map[connect.TopicPartition]bool
}

func (c *sinkContext) Assignment() []connect.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]connect.TopicPartition, 0, len(c.assigned))
	for tp := range c.assigned {
		out = append(out, tp)
	}
	return out
}

// SinkGroup is the consumer group of a sink connector, as Kafka names it.
func SinkGroup(connector string) string { return "connect-" + connector }

// runSink consumes, converts and Puts records, and commits consumer offsets
// after the task's Flush (at least once).
func (t *taskRun) runSink(ctx context.Context, task connect.SinkTask) error {
	topics := connect.SplitList(t.connCfg["topics"])
	regex := t.connCfg["topics.regex"]
	if len(topics) == 0 && regex == "" {
		return fmt.Errorf("sink connector %s: set topics or topics.regex", t.id.Connector)
	}
	if regex != "" {
		if _, err := regexp.Compile(regex); err != nil {
			return fmt.Errorf("topics.regex: %w", err)
		}
		topics = []string{regex}
	}
	maxPoll := 500
	if v := t.w.cfg.Props["consumer.max.poll.records"]; v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			maxPoll = n
		}
	}

	sc := &sinkContext{assigned: map[connect.TopicPartition]bool{}}
	var (
		mu      sync.Mutex // guards current; Put/Flush run under it
		current = map[connect.TopicPartition]int64{}
		cl      *kgo.Client
	)
	// flushLocked flushes the task and commits the given partitions'
	// offsets. mu must be held.
	flushLocked := func(ctx context.Context, only map[string][]int32) error {
		offs := map[connect.TopicPartition]int64{}
		commit := map[string]map[int32]kgo.EpochOffset{}
		for tp, o := range current {
			if only != nil && !containsPartition(only, tp) {
				continue
			}
			offs[tp] = o
			if commit[tp.Topic] == nil {
				commit[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		if len(offs) == 0 {
			return nil
		}
		if err := task.Flush(ctx, offs); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		var cerr error
		cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, tt := range resp.Topics {
				for _, p := range tt.Partitions {
					if p.ErrorCode != 0 && cerr == nil {
						cerr = fmt.Errorf("commit %s-%d: error code %d", tt.Topic, p.Partition, p.ErrorCode)
					}
				}
			}
		})
		if cerr != nil {
			return fmt.Errorf("commit offsets: %w", cerr)
		}
		for tp := range offs {
			if only != nil {
				delete(current, tp)
			}
		}
		return nil
	}
	var rebalanceErr atomic.Pointer[error]
	onRevoked := func(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
		mu.Lock()
		defer mu.Unlock()
		fctx, cancel := context.WithTimeout(context.Background(), t.w.cfg.OffsetFlushTimeout)
		defer cancel()
		if err := flushLocked(fctx, revoked); err != nil {
			rebalanceErr.Store(&err)
		}
		var tps []connect.TopicPartition
		sc.mu.Lock()
		for topic, ps := range revoked {
			for _, p := range ps {
				tp := connect.TopicPartition{Topic: topic, Partition: p}
				delete(sc.assigned, tp)
				tps = append(tps, tp)
			}
		}
		sc.mu.Unlock()
		if pa, ok := task.(connect.PartitionAware); ok && len(tps) > 0 {
			_ = pa.Close(fctx, tps)
		}
	}
	onAssigned := func(ctx context.Context, _ *kgo.Client, added map[string][]int32) {
		var tps []connect.TopicPartition
		sc.mu.Lock()
		for topic, ps := range added {
			for _, p := range ps {
				tp := connect.TopicPartition{Topic: topic, Partition: p}
				sc.assigned[tp] = true
				tps = append(tps, tp)
			}
		}
		sc.mu.Unlock()
		if pa, ok := task.(connect.PartitionAware); ok && len(tps) > 0 {
			if err := pa.Open(ctx, tps); err != nil {
				rebalanceErr.Store(&err)
			}
		}
	}
	opts := append(t.w.clientOpts(t.connCfg),
		kgo.ConsumerGroup(SinkGroup(t.id.Connector)),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(onAssigned),
		kgo.OnPartitionsRevoked(onRevoked),
		kgo.OnPartitionsLost(func(ctx context.Context, c *kgo.Client, lost map[string][]int32) {
			mu.Lock()
			for topic, ps := range lost {
				for _, p := range ps {
					delete(current, connect.TopicPartition{Topic: topic, Partition: p})
				}
			}
			mu.Unlock()
		}),
	)
	if regex != "" {
		opts = append(opts, kgo.ConsumeRegex())
	}
	if t.errs.dlqTopic != "" {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	var err error
	if cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("sink task %s: client: %w", t.id, err)
	}
	t.client = cl
	if err := task.Start(ctx, t.taskConfig(), sc); err != nil {
		cl.Close()
		return fmt.Errorf("start task %s: %w", t.id, err)
	}
	stop := func(runErr error) error {
		sctx, cancel := context.WithTimeout(context.Background(), t.w.cfg.ShutdownTimeout)
		defer cancel()
		if runErr == nil {
			mu.Lock()
			runErr = flushLocked(sctx, nil)
			mu.Unlock()
		}
		if err := task.Stop(sctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("stop task %s: %w", t.id, err)
		}
		cl.AllowRebalance()
		cl.CloseAllowingRebalance()
		return runErr
	}

	nextCommit := time.Now().Add(t.w.cfg.OffsetFlushInterval)
	for {
		if !t.waitWhilePaused(ctx) {
			return stop(nil)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollRecords(pctx, maxPoll)
		cancel()
		if ctx.Err() != nil {
			return stop(nil)
		}
		if e := rebalanceErr.Load(); e != nil {
			return stop(*e)
		}
		var fatal error
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fatal == nil {
				t.w.log.Warn("connect: fetch", "connector", t.id.Connector, "topic", topic, "partition", p, "err", err)
			}
		})
		mu.Lock()
		err := t.deliver(ctx, task, fs.Records(), current)
		if err == nil && time.Now().After(nextCommit) {
			err = flushLocked(ctx, nil)
			nextCommit = time.Now().Add(t.w.cfg.OffsetFlushInterval)
		}
		mu.Unlock()
		cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return stop(nil)
			}
			return stop(err)
		}
	}
}

func containsPartition(m map[string][]int32, tp connect.TopicPartition) bool {
	for _, p := range m[tp.Topic] {
		if p == tp.Partition {
			return true
		}
	}
	return false
}

// deliver converts raw records and Puts them, retrying retriable Put
// errors with backoff until ctx ends. current advances past every record,
// including those filtered out or sent to the dead-letter queue.
func (t *taskRun) deliver(ctx context.Context, task connect.SinkTask, raw []*kgo.Record, current map[connect.TopicPartition]int64) error {
	if len(raw) == 0 {
		return nil
	}
	recs := make([]connect.Record, 0, len(raw))
	for _, kr := range raw {
		r, keep, err := t.fromKafka(ctx, kr)
		if err != nil {
			return err
		}
		if keep {
			recs = append(recs, r)
		}
	}
	if len(recs) > 0 {
		delay := 300 * time.Millisecond
		for {
			err := task.Put(ctx, recs)
			if err == nil {
				break
			}
			if !connect.IsRetriable(err) {
				return fmt.Errorf("put: %w", err)
			}
			timer := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
			if delay < 10*time.Second {
				delay *= 2
			}
		}
	}
	for _, kr := range raw {
		current[connect.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}] = kr.Offset + 1
	}
	return nil
}

func (t *taskRun) fromKafka(ctx context.Context, kr *kgo.Record) (connect.Record, bool, error) {
	fail := func(stage, class string, err error) (connect.Record, bool, error) {
		if !t.errs.tolerateAll {
			return connect.Record{}, false, fmt.Errorf("%s: %w", stage, err)
		}
		return connect.Record{}, false, t.report(ctx, errantRecord{stage: stage, class: class, err: err, raw: kr})
	}
	r := connect.Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp}
	var err error
	if err = t.errs.retry(ctx, func() (err error) {
		r.KeySchema, r.Key, err = t.keyConv.ToConnect(kr.Topic, kr.Key)
		return err
	}); err != nil {
		return fail(StageKeyConverter, fmt.Sprintf("%T", t.keyConv), err)
	}
	if err = t.errs.retry(ctx, func() (err error) {
		r.ValueSchema, r.Value, err = t.valConv.ToConnect(kr.Topic, kr.Value)
		return err
	}); err != nil {
		return fail(StageValueConverter, fmt.Sprintf("%T", t.valConv), err)
	}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, connect.Header{Key: h.Key, Value: h.Value})
	}
	var out connect.Record
	var keep bool
	if err = t.errs.retry(ctx, func() (err error) {
		out, keep, err = t.chain.Apply(r)
		return err
	}); err != nil {
		return fail(StageTransformation, transformClass(err), err)
	}
	return out, keep, nil
}
