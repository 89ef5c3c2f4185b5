// Package httpsink provides an HTTP sink connector: it sends record values
// to an HTTP API in batches, with retries and exponential backoff, an
// authorization header (basic or bearer) and configurable method, URL and
// headers. Configuration names follow Confluent's HTTP Sink connector
// where they exist (http.api.url, request.method, headers, batch.max.size,
// batch.prefix/suffix/separator, max.retries, retry.backoff.ms, auth.type,
// connection.user/password).
//
// Delivery is at least once: Put returns only after every batch was
// accepted (a 2xx answer), so the worker commits consumer offsets only for
// delivered records; a retried or re-delivered batch may arrive twice.
package httpsink

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kavka-io/kavka/connect"
)

// Class is the connector class name.
const Class = "io.kavka.connect.http.HttpSinkConnector"

const version = "1.0.0"

var def = connect.ConfigDef{
	{Name: "http.api.url", Type: connect.TypeString, Required: true, Importance: connect.High,
		Doc: "The URL records are sent to; ${topic} and ${key} are replaced by the record's topic and (URL-escaped) key.",
		Valid: func(v string) error {
			u, err := url.Parse(strings.NewReplacer("${topic}", "t", "${key}", "k").Replace(v))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("not an http(s) URL: %q", v)
			}
			return nil
		}},
	{Name: "request.method", Type: connect.TypeString, Default: "POST", Importance: connect.High,
		Doc: "POST, PUT or PATCH.", Valid: connect.OneOf("POST", "PUT", "PATCH")},
	{Name: "headers", Type: connect.TypeString, Default: "", Importance: connect.High,
		Doc: "Extra request headers, Name:Value pairs separated by header.separator."},
	{Name: "header.separator", Type: connect.TypeString, Default: "|", Importance: connect.Low,
		Doc: "Separator of the headers list."},
	{Name: "auth.type", Type: connect.TypeString, Default: "NONE", Importance: connect.High,
		Doc:   "NONE, BASIC (connection.user and connection.password) or BEARER (bearer.token): sets the Authorization header.",
		Valid: connect.OneOf("NONE", "BASIC", "BEARER")},
	{Name: "connection.user", Type: connect.TypeString, Default: "", Importance: connect.Medium,
		Doc: "User for basic authentication."},
	{Name: "connection.password", Type: connect.TypePassword, Default: "", Importance: connect.Medium,
		Doc: "Password for basic authentication."},
	{Name: "bearer.token", Type: connect.TypePassword, Default: "", Importance: connect.Medium,
		Doc: "Token for bearer authentication."},
	{Name: "request.body.format", Type: connect.TypeString, Default: "string", Importance: connect.Medium,
		Doc:   "string: each value as text; json: each value as JSON (schemaless).",
		Valid: connect.OneOf("string", "json")},
	{Name: "batch.max.size", Type: connect.TypeInt, Default: "1", Importance: connect.High,
		Doc: "Records per request.", Valid: connect.AtLeast(1)},
	{Name: "batch.prefix", Type: connect.TypeString, Default: "", Importance: connect.Medium,
		Doc: "Written before the records of a request (e.g. [ for a JSON array)."},
	{Name: "batch.suffix", Type: connect.TypeString, Default: "", Importance: connect.Medium,
		Doc: "Written after the records of a request (e.g. ])."},
	{Name: "batch.separator", Type: connect.TypeString, Default: ",", Importance: connect.Medium,
		Doc: "Written between the records of a request."},
	{Name: "max.retries", Type: connect.TypeInt, Default: "10", Importance: connect.Medium,
		Doc: "Retries of a failed request before the task fails.", Valid: connect.AtLeast(0)},
	{Name: "retry.backoff.ms", Type: connect.TypeInt, Default: "3000", Importance: connect.Medium,
		Doc: "Wait before the first retry; it doubles for each later one.", Valid: connect.AtLeast(0)},
	{Name: "retry.backoff.max.ms", Type: connect.TypeInt, Default: "30000", Importance: connect.Low,
		Doc: "Longest wait between retries.", Valid: connect.AtLeast(0)},
	{Name: "retry.on.status.codes", Type: connect.TypeString, Default: "408,429,500-", Importance: connect.Medium,
		Doc: "Status codes that are retried: codes and ranges such as 500-599 or 500- (and above). Other non-2xx codes fail the task at once. Transport errors are always retried."},
	{Name: "http.request.timeout.ms", Type: connect.TypeInt, Default: "30000", Importance: connect.Low,
		Doc: "Timeout of one request.", Valid: connect.AtLeast(1)},
	{Name: "behavior.on.null.values", Type: connect.TypeString, Default: "ignore", Importance: connect.Low,
		Doc: "Records with a null value: ignore (skip) or fail.", Valid: connect.OneOf("ignore", "fail")},
}

// Sink is the connector.
type Sink struct{ cfg map[string]string }

// Config implements connect.Connector.
func (*Sink) Config() connect.ConfigDef { return def }

// Start implements connect.Connector.
func (s *Sink) Start(_ context.Context, cfg map[string]string) error {
	if _, err := parseCodes(cfg["retry.on.status.codes"]); err != nil {
		return err
	}
	s.cfg = cfg
	return nil
}

// TaskConfigs implements connect.Connector: the group assignment splits the
// partitions, so every task gets the same configuration.
func (s *Sink) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{}
	}
	return out, nil
}

// Stop implements connect.Connector.
func (*Sink) Stop(context.Context) error { return nil }

// Version implements connect.Connector.
func (*Sink) Version() string { return version }

// NewTask implements connect.SinkConnector.
func (*Sink) NewTask() connect.SinkTask { return &Task{} }

// Task sends records. Put delivers synchronously, so Flush has nothing
// left to do.
type Task struct {
	Client *http.Client // nil: one with http.request.timeout.ms; tests may set it

	url, method, prefix, suffix, sep string
	headers                          http.Header
	json                             connect.Converter
	batch, retries                   int
	backoff, maxBackoff              time.Duration
	retryOn                          codeSet
	failOnNull                       bool
	log                              *slog.Logger
	sleep                            func(context.Context, time.Duration) error
}

// Start implements connect.SinkTask.
func (t *Task) Start(_ context.Context, cfg map[string]string, _ connect.SinkTaskContext) error {
	c, err := connect.NewConfig(def, cfg)
	if err != nil {
		return err
	}
	t.url, t.method = c.String("http.api.url"), c.String("request.method")
	// Untrimmed: a separator may well be "\n".
	raw := func(k, def string) string {
		if v, ok := cfg[k]; ok {
			return v
		}
		return def
	}
	t.prefix, t.suffix, t.sep = raw("batch.prefix", ""), raw("batch.suffix", ""), raw("batch.separator", ",")
	t.batch, t.retries = int(c.Int("batch.max.size")), int(c.Int("max.retries"))
	t.backoff = c.Millis("retry.backoff.ms")
	t.maxBackoff = c.Millis("retry.backoff.max.ms")
	t.failOnNull = c.String("behavior.on.null.values") == "fail"
	if t.retryOn, err = parseCodes(c.String("retry.on.status.codes")); err != nil {
		return err
	}
	if t.headers, err = parseHeaders(c.String("headers"), c.String("header.separator")); err != nil {
		return err
	}
	switch c.String("auth.type") {
	case "BASIC":
		t.headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(c.String("connection.user")+":"+c.String("connection.password"))))
	case "BEARER":
		t.headers.Set("Authorization", "Bearer "+c.String("bearer.token"))
	}
	if c.String("request.body.format") == "json" {
		if t.json, err = connect.NewConverter(connect.JSONConverterClass); err == nil {
			err = t.json.Configure(map[string]string{"schemas.enable": "false"}, false)
		}
		if err != nil {
			return err
		}
	}
	if t.Client == nil {
		t.Client = &http.Client{Timeout: c.Millis("http.request.timeout.ms")}
	}
	t.log = slog.Default()
	if t.sleep == nil {
		t.sleep = sleep
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Put implements connect.SinkTask: records are grouped, in order, into
// requests of at most batch.max.size records for the same URL.
func (t *Task) Put(ctx context.Context, records []connect.Record) error {
	var (
		body  bytes.Buffer
		n     int
		reqTo string
	)
	send := func() error {
		if n == 0 {
			return nil
		}
		body.WriteString(t.suffix)
		err := t.send(ctx, reqTo, body.Bytes())
		body.Reset()
		n = 0
		return err
	}
	for i := range records {
		r := &records[i]
		if r.Value == nil {
			if t.failOnNull {
				return fmt.Errorf("record %s-%d@%d has a null value (behavior.on.null.values=fail)", r.Topic, r.Partition, r.Offset)
			}
			continue
		}
		v, err := t.render(r)
		if err != nil {
			return err
		}
		u := t.expand(r)
		if n > 0 && (n == t.batch || u != reqTo) {
			if err := send(); err != nil {
				return err
			}
		}
		if n == 0 {
			reqTo = u
			body.WriteString(t.prefix)
		} else {
			body.WriteString(t.sep)
		}
		body.Write(v)
		n++
	}
	return send()
}

func (t *Task) render(r *connect.Record) ([]byte, error) {
	if t.json != nil {
		b, err := t.json.FromConnect(r.Topic, r.ValueSchema, r.Value)
		if err != nil {
			return nil, fmt.Errorf("encode value as JSON: %w", err)
		}
		return b, nil
	}
	switch v := r.Value.(type) {
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	}
	return []byte(fmt.Sprint(r.Value)), nil
}

func (t *Task) expand(r *connect.Record) string {
	if !strings.Contains(t.url, "${") {
		return t.url
	}
	key := ""
	switch k := r.Key.(type) {
	case string:
		key = k
	case []byte:
		key = string(k)
	case nil:
	default:
		key = fmt.Sprint(k)
	}
	return strings.NewReplacer("${topic}", url.PathEscape(r.Topic), "${key}", url.PathEscape(key)).Replace(t.url)
}

// errStatus is a non-2xx answer.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// send makes one request, retrying transport errors and retry.on.status.codes
// answers up to max.retries times with doubling waits.
func (t *Task) send(ctx context.Context, to string, body []byte) error {
	wait := t.backoff
	for attempt := 0; ; attempt++ {
		err := t.do(ctx, to, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var es *errStatus
		if errors.As(err, &es) && !t.retryOn.has(es.code) {
			return fmt.Errorf("%s %s: %w", t.method, to, err)
		}
		if attempt >= t.retries {
			return fmt.Errorf("%s %s: giving up after %d retries: %w", t.method, to, attempt, err)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, t.maxBackoff)
	}
}

func (t *Task) do(ctx context.Context, to string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, t.method, to, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range t.headers {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		ct := "text/plain; charset=utf-8"
		if t.json != nil {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := t.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // for the error message only
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return &errStatus{code: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	return nil
}

// Flush implements connect.SinkTask.
func (*Task) Flush(context.Context, map[connect.TopicPartition]int64) error { return nil }

// Stop implements connect.SinkTask.
func (t *Task) Stop(context.Context) error {
	if t.Client != nil {
		t.Client.CloseIdleConnections()
	}
	return nil
}

func parseHeaders(s, sep string) (http.Header, error) {
	h := http.Header{}
	if strings.TrimSpace(s) == "" {
		return h, nil
	}
	if sep == "" {
		sep = "|"
	}
	for _, kv := range strings.Split(s, sep) {
		k, v, ok := strings.Cut(kv, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("headers: %q is not Name:Value", kv)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h, nil
}

// codeSet is a list of status code ranges [lo, hi].
type codeSet [][2]int

func (s codeSet) has(code int) bool {
	for _, r := range s {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// parseCodes reads "408,429,500-" or "500-599".
func parseCodes(s string) (codeSet, error) {
	var out codeSet
	for _, part := range connect.SplitList(s) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("retry.on.status.codes: bad code %q", part)
		}
		b := a
		if isRange {
			b = 999
			if hi = strings.TrimSpace(hi); hi != "" {
				if b, err = strconv.Atoi(hi); err != nil || b < a {
					return nil, fmt.Errorf("retry.on.status.codes: bad range %q", part)
				}
			}
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}
