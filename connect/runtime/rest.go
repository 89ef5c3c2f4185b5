package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kavka-io/kavka/connect"
)

// Version is reported by GET /.
const Version = "3.9.0-kavka"

// API is the Kafka Connect REST API over a Herder: the same paths, JSON
// bodies and status codes as Kafka's ConnectorsResource,
// ConnectorPluginsResource and RootResource.
type API struct {
	h   *Herder
	mux *http.ServeMux
}

// NewAPI returns the REST handler.
func NewAPI(h *Herder) *API {
	a := &API{h: h, mux: http.NewServeMux()}
	m := a.mux
	m.HandleFunc("GET /{$}", a.root)
	m.HandleFunc("GET /connectors", a.list)
	m.HandleFunc("POST /connectors", a.create)
	m.HandleFunc("GET /connectors/{name}", a.info)
	m.HandleFunc("DELETE /connectors/{name}", a.delete)
	m.HandleFunc("GET /connectors/{name}/config", a.getConfig)
	m.HandleFunc("PUT /connectors/{name}/config", a.putConfig)
	m.HandleFunc("GET /connectors/{name}/status", a.status)
	m.HandleFunc("POST /connectors/{name}/restart", a.restart)
	m.HandleFunc("PUT /connectors/{name}/pause", a.target(TargetPaused))
	m.HandleFunc("PUT /connectors/{name}/resume", a.target(TargetStarted))
	m.HandleFunc("PUT /connectors/{name}/stop", a.target(TargetStopped))
	m.HandleFunc("GET /connectors/{name}/tasks", a.tasks)
	m.HandleFunc("GET /connectors/{name}/tasks/{task}/status", a.taskStatus)
	m.HandleFunc("POST /connectors/{name}/tasks/{task}/restart", a.taskRestart)
	m.HandleFunc("GET /connectors/{name}/offsets", a.getOffsets)
	m.HandleFunc("PATCH /connectors/{name}/offsets", a.patchOffsets)
	m.HandleFunc("DELETE /connectors/{name}/offsets", a.deleteOffsets)
	m.HandleFunc("GET /connectors/{name}/topics", a.topics)
	m.HandleFunc("GET /connector-plugins", a.plugins)
	m.HandleFunc("GET /connector-plugins/{plugin}/config", a.pluginConfig)
	m.HandleFunc("PUT /connector-plugins/{plugin}/config/validate", a.validate)
	return a
}

// ServeHTTP implements http.Handler. In distributed mode a write to
// /connectors… on a worker that is not the leader is forwarded to the
// leader (with forward=false, so it is never forwarded twice), as Kafka's
// ConnectorsResource does; with no known leader (a rebalance is under way)
// it fails with 409.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.h.leader != nil && r.Method != http.MethodGet && r.Method != http.MethodHead &&
		strings.HasPrefix(r.URL.Path, "/connectors") {
		url, self, known := a.h.leader()
		switch {
		case !known:
			writeErr(w, fmt.Errorf("%w: Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.", ErrNotLeader))
			return
		case !self && r.URL.Query().Get("forward") == "false":
			writeErr(w, fmt.Errorf("%w: Cannot complete request because of a conflicting operation (e.g. worker rebalance)", ErrNotLeader))
			return
		case !self:
			a.forward(w, r, url)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

var forwardClient = &http.Client{Timeout: 90 * time.Second}

// forward replays r on the leader and copies its answer back.
func (a *API) forward(w http.ResponseWriter, r *http.Request, leaderURL string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		badRequest(w, "read request body: "+err.Error())
		return
	}
	q := r.URL.Query()
	q.Set("forward", "false")
	target := strings.TrimSuffix(leaderURL, "/") + r.URL.Path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
	if err != nil {
		writeErr(w, fmt.Errorf("forward to leader: %w", err))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := forwardClient.Do(req)
	if err != nil {
		writeErr(w, fmt.Errorf("forward to leader %s: %w", leaderURL, err))
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // the client went away; nothing to do
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// writeErr writes Kafka's error body {"error_code": …, "message": …}.
func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotLeader):
		code = http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		code = http.StatusBadRequest
	}
	msg := err.Error()
	for _, e := range []error{ErrNotFound, ErrConflict, ErrBadRequest, ErrNotLeader} {
		msg = strings.TrimPrefix(msg, e.Error()+": ")
	}
	writeJSON(w, code, map[string]any{"error_code": code, "message": msg})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error_code": 400, "message": msg})
}

func (a *API) root(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"version": Version, "commit": "kavka", "kafka_cluster_id": a.h.ClusterID(r.Context())})
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	names := a.h.Connectors(r.Context())
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(w, 200, names)
		return
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				if st, err := a.h.Status(r.Context(), n); err == nil {
					e["status"] = st
				}
			case "info":
				if in, err := a.h.Info(r.Context(), n); err == nil {
					e["info"] = in
				}
			}
		}
		out[n] = e
	}
	writeJSON(w, 200, out)
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		badRequest(w, "Request body is not a valid connector creation request: "+err.Error())
		return
	}
	if body.Config == nil {
		body.Config = map[string]string{}
	}
	if n, ok := body.Config["name"]; ok && n != body.Name {
		badRequest(w, "Connector name configuration ("+n+") doesn't match connector name in the URL ("+body.Name+")")
		return
	}
	info, _, err := a.h.PutConfig(r.Context(), body.Name, body.Config, false)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/connectors/"+body.Name)
	writeJSON(w, http.StatusCreated, info)
}

func (a *API) info(w http.ResponseWriter, r *http.Request) {
	info, err := a.h.Info(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, info)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.h.Delete(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) getConfig(w http.ResponseWriter, r *http.Request) {
	info, err := a.h.Info(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, info.Config)
}

func (a *API) putConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var cfg map[string]string
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		badRequest(w, "Request body is not a valid connector configuration: "+err.Error())
		return
	}
	if n, ok := cfg["name"]; ok && n != name {
		badRequest(w, "Connector name configuration ("+n+") doesn't match connector name in the URL ("+name+")")
		return
	}
	info, created, err := a.h.PutConfig(r.Context(), name, cfg, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	if created {
		w.Header().Set("Location", "/connectors/"+name)
		writeJSON(w, http.StatusCreated, info)
		return
	}
	writeJSON(w, 200, info)
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.h.Status(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, st)
}

func boolParam(r *http.Request, key string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(key))
	return b
}

func (a *API) restart(w http.ResponseWriter, r *http.Request) {
	includeTasks, onlyFailed := boolParam(r, "includeTasks"), boolParam(r, "onlyFailed")
	st, err := a.h.Restart(r.Context(), r.PathValue("name"), includeTasks, onlyFailed)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !includeTasks && !onlyFailed {
		w.WriteHeader(http.StatusNoContent) // the pre-KIP-745 behaviour
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (a *API) target(t TargetState) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.h.SetTarget(r.Context(), r.PathValue("name"), t); err != nil {
			writeErr(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *API) tasks(w http.ResponseWriter, r *http.Request) {
	ts, err := a.h.Tasks(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, ts)
}

func (a *API) taskID(w http.ResponseWriter, r *http.Request) (TaskID, bool) {
	n, err := strconv.Atoi(r.PathValue("task"))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: task id must be a number", ErrNotFound))
		return TaskID{}, false
	}
	return TaskID{r.PathValue("name"), n}, true
}

func (a *API) taskStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := a.taskID(w, r)
	if !ok {
		return
	}
	st, err := a.h.Status(r.Context(), id.Connector)
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, t := range st.Tasks {
		if t.ID == id.Task {
			writeJSON(w, 200, t)
			return
		}
	}
	writeJSON(w, 404, map[string]any{"error_code": 404, "message": "No status found for task " + id.String()})
}

func (a *API) taskRestart(w http.ResponseWriter, r *http.Request) {
	id, ok := a.taskID(w, r)
	if !ok {
		return
	}
	if err := a.h.RestartTask(r.Context(), id); err != nil {
		writeErr(w, err)
		return
	}
	a.h.Kick()
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) getOffsets(w http.ResponseWriter, r *http.Request) {
	o, err := a.h.Offsets(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, o)
}

func (a *API) patchOffsets(w http.ResponseWriter, r *http.Request) {
	var body OffsetsBody
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		badRequest(w, "Request body is not a valid offsets request: "+err.Error())
		return
	}
	normalizeNumbers(body.Offsets)
	if err := a.h.AlterOffsets(r.Context(), r.PathValue("name"), body); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"message": "The offsets for this connector have been altered successfully"})
}

// normalizeNumbers turns json.Number into int64 or float64.
func normalizeNumbers(offs []SourceOffset) {
	fix := func(m map[string]any) {
		for k, v := range m {
			if n, ok := v.(json.Number); ok {
				if i, err := n.Int64(); err == nil {
					m[k] = float64(i)
				} else if f, err := n.Float64(); err == nil {
					m[k] = f
				}
			}
		}
	}
	for _, o := range offs {
		fix(o.Partition)
		fix(o.Offset)
	}
}

func (a *API) deleteOffsets(w http.ResponseWriter, r *http.Request) {
	if err := a.h.ResetOffsets(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"message": "The offsets for this connector have been reset successfully"})
}

func (a *API) topics(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	info, err := a.h.Info(r.Context(), name)
	if err != nil {
		writeErr(w, err)
		return
	}
	topics := connect.SplitList(info.Config["topics"])
	if t := info.Config["topic"]; t != "" {
		topics = append(topics, t)
	}
	if topics == nil {
		topics = []string{}
	}
	writeJSON(w, 200, map[string]any{name: map[string]any{"topics": topics}})
}

type pluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

func (a *API) plugins(w http.ResponseWriter, r *http.Request) {
	out := []pluginInfo{}
	for _, p := range a.h.Plugins().All() {
		out = append(out, pluginInfo{Class: p.Class, Type: p.Type(), Version: p.Version()})
	}
	if v := r.URL.Query().Get("connectorsOnly"); v == "false" {
		for _, c := range connect.TransformationClasses() {
			out = append(out, pluginInfo{Class: c, Type: "transformation", Version: Version})
		}
		for _, c := range connect.PredicateClasses() {
			out = append(out, pluginInfo{Class: c, Type: "predicate", Version: Version})
		}
		for _, c := range connect.ConverterClasses() {
			out = append(out, pluginInfo{Class: c, Type: "converter", Version: Version})
		}
	}
	writeJSON(w, 200, out)
}

func (a *API) pluginConfig(w http.ResponseWriter, r *http.Request) {
	pl, err := a.h.Plugins().Lookup(r.PathValue("plugin"))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %v", ErrNotFound, err))
		return
	}
	writeJSON(w, 200, PluginConfig(pl))
}

func (a *API) validate(w http.ResponseWriter, r *http.Request) {
	var cfg map[string]string
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		badRequest(w, "Request body is not a valid configuration: "+err.Error())
		return
	}
	plugin := r.PathValue("plugin")
	if c, ok := cfg["connector.class"]; ok {
		pc, err1 := a.h.Plugins().Lookup(c)
		pp, err2 := a.h.Plugins().Lookup(plugin)
		if err1 != nil || err2 != nil || pc != pp {
			badRequest(w, "Included connector type "+c+" does not match request type "+plugin)
			return
		}
	} else {
		cfg["connector.class"] = plugin
	}
	vi, err := a.h.Validate(r.Context(), cfg)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, vi)
}

// ListenAddr returns the host:port of the first REST listener in a worker
// configuration ("listeners", default http://:8083).
func ListenAddr(props map[string]string) string {
	if l := firstListener(props); l != "" {
		return l
	}
	return ":8083"
}

// Serve serves the API on ln until ctx is done, then shuts the server down
// gracefully (bounded at 5 s).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("rest: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // bounded; closes idle connections
	<-errc
	return nil
}
