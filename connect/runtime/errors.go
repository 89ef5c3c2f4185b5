package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavka-io/kavka/connect"
)

// Stages at which a record can fail (KIP-298's ErrantRecord stages).
const (
	StageKeyConverter   = "KEY_CONVERTER"
	StageValueConverter = "VALUE_CONVERTER"
	StageTransformation = "TRANSFORMATION"
	StageTaskPut        = "TASK_PUT"
	StageTaskPoll       = "TASK_POLL"
	StageKafkaProduce   = "KAFKA_PRODUCE"
)

// DLQ context headers (KIP-298), as Kafka's DeadLetterQueueReporter names
// them.
const (
	HeaderPrefix           = "__connect.errors."
	HeaderTopic            = HeaderPrefix + "topic"
	HeaderPartition        = HeaderPrefix + "partition"
	HeaderOffset           = HeaderPrefix + "offset"
	HeaderConnectorName    = HeaderPrefix + "connector.name"
	HeaderTaskID           = HeaderPrefix + "task.id"
	HeaderStage            = HeaderPrefix + "stage"
	HeaderClassName        = HeaderPrefix + "class.name"
	HeaderExceptionClass   = HeaderPrefix + "exception.class.name"
	HeaderExceptionMessage = HeaderPrefix + "exception.message"
	HeaderExceptionTrace   = HeaderPrefix + "exception.stacktrace"
)

// errorPolicy is a connector's errors.* configuration (KIP-298).
type errorPolicy struct {
	tolerateAll  bool
	retryTimeout time.Duration // 0: no retries; <0: forever
	maxDelay     time.Duration
	logEnable    bool
	logMessages  bool
	dlqTopic     string
	dlqHeaders   bool
	dlqRF        int16
}

// errorConfigDef are the errors.* keys every connector accepts.
var errorConfigDef = connect.ConfigDef{
	{Name: "errors.tolerance", Type: connect.TypeString, Default: "none", Importance: connect.Medium, Group: "Error Handling",
		Doc: "none: any error fails the task; all: skip records that fail conversion, transformation or delivery.", Valid: connect.OneOf("none", "all")},
	{Name: "errors.retry.timeout", Type: connect.TypeLong, Default: "0", Importance: connect.Medium, Group: "Error Handling",
		Doc: "How long (ms) a failed operation is retried; 0 = no retries, -1 = forever."},
	{Name: "errors.retry.delay.max.ms", Type: connect.TypeLong, Default: "60000", Importance: connect.Medium, Group: "Error Handling",
		Doc: "The longest wait (ms) between retries; waits double from 300 ms."},
	{Name: "errors.log.enable", Type: connect.TypeBoolean, Default: "false", Importance: connect.Medium, Group: "Error Handling",
		Doc: "Log every tolerated error."},
	{Name: "errors.log.include.messages", Type: connect.TypeBoolean, Default: "false", Importance: connect.Medium, Group: "Error Handling",
		Doc: "Include the failed record's coordinates in the log."},
	{Name: "errors.deadletterqueue.topic.name", Type: connect.TypeString, Default: "", Importance: connect.Medium, Group: "Error Handling",
		Doc: "Sink connectors: the topic that receives records that failed (needs errors.tolerance=all)."},
	{Name: "errors.deadletterqueue.topic.replication.factor", Type: connect.TypeInt, Default: "3", Importance: connect.Medium, Group: "Error Handling",
		Doc: "Replication factor of the dead-letter topic when the worker creates it."},
	{Name: "errors.deadletterqueue.context.headers.enable", Type: connect.TypeBoolean, Default: "false", Importance: connect.Medium, Group: "Error Handling",
		Doc: "Add __connect.errors.* headers saying where and why the record failed."},
}

func parseErrorPolicy(cfg map[string]string) (errorPolicy, error) {
	c, err := connect.NewConfig(errorConfigDef, cfg)
	if err != nil {
		return errorPolicy{}, err
	}
	p := errorPolicy{
		tolerateAll:  strings.EqualFold(c.String("errors.tolerance"), "all"),
		retryTimeout: time.Duration(c.Int("errors.retry.timeout")) * time.Millisecond,
		maxDelay:     time.Duration(c.Int("errors.retry.delay.max.ms")) * time.Millisecond,
		logEnable:    c.Bool("errors.log.enable"),
		logMessages:  c.Bool("errors.log.include.messages"),
		dlqTopic:     c.String("errors.deadletterqueue.topic.name"),
		dlqHeaders:   c.Bool("errors.deadletterqueue.context.headers.enable"),
		dlqRF:        int16(c.Int("errors.deadletterqueue.topic.replication.factor")),
	}
	if c.Int("errors.retry.timeout") < 0 {
		p.retryTimeout = -1
	}
	return p, c.Err()
}

// retry runs op until it succeeds, fails with a non-retriable error, the
// retry timeout passes, or ctx is done. Waits start at 300 ms and double up
// to maxDelay, as Kafka's RetryWithToleranceOperator.
func (p errorPolicy) retry(ctx context.Context, op func() error) error {
	start := time.Now()
	delay := 300 * time.Millisecond
	for {
		err := op()
		if err == nil || !connect.IsRetriable(err) {
			return err
		}
		if p.retryTimeout == 0 || (p.retryTimeout > 0 && time.Since(start)+delay > p.retryTimeout) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
		if p.maxDelay > 0 && delay > p.maxDelay {
			delay = p.maxDelay
		}
	}
}

// errantRecord is a record that failed at some stage.
type errantRecord struct {
	stage string
	class string // the converter/transform/task involved
	err   error
	raw   *kgo.Record // the consumed record (sink), nil for source records
	topic string
}

// report handles a tolerated failure: log and dead-letter it. It returns an
// error only if the dead-letter write fails.
func (t *taskRun) report(ctx context.Context, e errantRecord) error {
	p := t.errs
	t.errorCount.Add(1)
	if p.logEnable {
		attrs := []any{"connector", t.id.Connector, "task", t.id.Task, "stage", e.stage, "class", e.class, "err", e.err}
		if p.logMessages && e.raw != nil {
			attrs = append(attrs, "topic", e.raw.Topic, "partition", e.raw.Partition, "offset", e.raw.Offset)
		}
		t.w.log.Warn("connect: tolerated error", attrs...)
	}
	if p.dlqTopic == "" || e.raw == nil {
		return nil
	}
	rec := &kgo.Record{Topic: p.dlqTopic, Key: e.raw.Key, Value: e.raw.Value, Timestamp: e.raw.Timestamp,
		Headers: append([]kgo.RecordHeader(nil), e.raw.Headers...)}
	if p.dlqHeaders {
		h := func(k, v string) { rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
		h(HeaderTopic, e.raw.Topic)
		h(HeaderPartition, strconv.Itoa(int(e.raw.Partition)))
		h(HeaderOffset, strconv.FormatInt(e.raw.Offset, 10))
		h(HeaderConnectorName, t.id.Connector)
		h(HeaderTaskID, strconv.Itoa(t.id.Task))
		h(HeaderStage, e.stage)
		h(HeaderClassName, e.class)
		h(HeaderExceptionClass, errorClass(e.err))
		h(HeaderExceptionMessage, e.err.Error())
		h(HeaderExceptionTrace, fmt.Sprintf("%+v", e.err))
	}
	if err := t.client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("write to dead letter queue %s: %w", p.dlqTopic, err)
	}
	return nil
}

// errorClass names the innermost error's Go type, standing in for the Java
// exception class.
func errorClass(err error) string {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			break
		}
		err = u.Unwrap()
	}
	return reflect.TypeOf(err).String()
}

var _ = slog.Default
