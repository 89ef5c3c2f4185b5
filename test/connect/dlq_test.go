package connect

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeadLetterQueue: a JSON sink with errors.tolerance=all sends records
// it cannot convert to the DLQ topic with the __connect.errors.* headers and
// keeps delivering the good ones.
func TestDeadLetterQueue(t *testing.T) {
	broker := startBroker(t)
	cl, adm := client(t, broker)
	createTopic(t, adm, "in", 1)
	createTopic(t, adm, "dlq", 1)
	ctx := context.Background()
	for i := range 10 {
		v := fmt.Sprintf(`{"n":%d}`, i)
		if i%3 == 0 {
			v = "not json"
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	w := startStandalone(t, broker, nil)
	if _, _, err := w.PutConfig(ctx, "s", map[string]string{"connector.class": "FileStreamSink", "file": out, "topics": "in",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
		"errors.deadletterqueue.context.headers.enable": "true"}, false); err != nil {
		t.Fatal(err)
	}
	dl, _ := client(t, broker, kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	deadline := time.Now().Add(waitFor)
	for len(got) < 4 && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		got = append(got, dl.PollFetches(pctx).Records()...)
		cancel()
	}
	if len(got) != 4 {
		t.Fatalf("dlq has %d records, want 4", len(got))
	}
	h := map[string]string{}
	for _, x := range got[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if string(got[0].Value) != "not json" || h["__connect.errors.topic"] != "in" || h["__connect.errors.offset"] != "0" ||
		h["__connect.errors.stage"] != "VALUE_CONVERTER" || h["__connect.errors.connector.name"] != "s" || h["__connect.errors.exception.message"] == "" {
		t.Errorf("dlq record %q headers %v", got[0].Value, h)
	}
	eventually(t, "good records in the sink file", func() error {
		st, err := w.Status(ctx, "s")
		if err != nil || st.Tasks[0].State != "RUNNING" {
			return fmt.Errorf("status %+v %v", st, err)
		}
		offs, err := w.Offsets(ctx, "s")
		if err != nil || len(offs.Offsets) != 1 || fmt.Sprint(offs.Offsets[0].Offset["kafka_offset"]) != "10" {
			return fmt.Errorf("sink offsets %+v %v", offs, err)
		}
		return nil
	})
}
