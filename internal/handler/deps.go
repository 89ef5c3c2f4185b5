package handler

import (
	"log/slog"

	"github.com/kavka-io/kavka/internal/clock"
)

// Deps are the subsystems the handlers call. The server fills them in.
type Deps struct {
	NodeID int32
	Logger *slog.Logger
	Clock  clock.Clock
}
