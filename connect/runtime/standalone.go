package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Standalone is a single worker that owns every connector and task; its
// connector configurations live in memory (they come from properties files
// or the REST API) and its source offsets in a local file
// (offset.storage.file.filename). Mirrors Kafka's StandaloneHerder.
type Standalone struct {
	*Herder
	admin *kgo.Client
}

// NewStandalone builds a standalone worker. offsets may be nil, in which
// case offset.storage.file.filename is opened (or an in-memory store used
// if it is not set). It starts nothing; call Run.
func NewStandalone(cfg WorkerConfig, plugins *Plugins, offsets OffsetStore, log *slog.Logger) (*Standalone, error) {
	if log == nil {
		log = slog.Default()
	}
	if offsets == nil {
		if path := cfg.Props["offset.storage.file.filename"]; path != "" {
			fs, err := OpenFileOffsetStore(path)
			if err != nil {
				return nil, err
			}
			offsets = fs
		} else {
			offsets = &MemOffsetStore{}
		}
	}
	cl, adm, err := newAdmin(cfg)
	if err != nil {
		return nil, err
	}
	s := &Standalone{admin: cl}
	h := newHerder(nil, plugins, offsets, adm, log)
	h.w = NewWorker(cfg, plugins, offsets, h, log)
	h.be = &standaloneBackend{h: h}
	s.Herder = h
	return s, nil
}

// Run reconciles until ctx is done, then stops every task (committing
// offsets) and connector.
func (s *Standalone) Run(ctx context.Context) error {
	defer s.admin.Close()
	return s.runLoop(ctx)
}

// standaloneBackend applies writes to the in-memory state at once.
type standaloneBackend struct {
	h  *Herder
	mu sync.Mutex
}

func (b *standaloneBackend) putConfig(_ context.Context, name string, cfg map[string]string) error {
	h := b.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if cfg == nil {
		delete(h.state.configs, name)
		delete(h.state.targets, name)
		delete(h.state.taskConfigs, name)
		delete(h.statuses, name)
		for id := range h.tstatuses {
			if id.Connector == name {
				delete(h.tstatuses, id)
			}
		}
		return nil
	}
	h.state.configs[name] = maps.Clone(cfg)
	if _, ok := h.state.targets[name]; !ok {
		h.state.targets[name] = TargetStarted
	}
	return nil
}

func (b *standaloneBackend) putTarget(_ context.Context, name string, t TargetState) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	b.h.state.targets[name] = t
	return nil
}

func (b *standaloneBackend) putTaskConfigs(_ context.Context, name string, tcs []map[string]string) error {
	h := b.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.state.configs[name]; !ok {
		return fmt.Errorf("%w: Connector %s not found", ErrNotFound, name)
	}
	for id := range h.tstatuses {
		if id.Connector == name && id.Task >= len(tcs) {
			delete(h.tstatuses, id)
		}
	}
	h.state.taskConfigs[name] = tcs
	return nil
}

func (b *standaloneBackend) requestRestart(_ context.Context, name string, includeTasks, onlyFailed bool) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	b.h.applyRestartLocked(name, restartReq{includeTasks: includeTasks, onlyFailed: onlyFailed})
	return nil
}

func (*standaloneBackend) ownsConnector(string) bool { return true }
func (*standaloneBackend) ownsTask(TaskID) bool      { return true }
func (*standaloneBackend) ready() bool               { return true }

var _ = strconv.Itoa
