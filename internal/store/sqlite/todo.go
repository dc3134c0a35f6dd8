package sqlite

import (
	"context"
	"errors"

	"github.com/ferry-dev/ferry/internal/store"
)

// Placeholders for the store methods the hardening issue adds; each is
// replaced by its real implementation (and this file removed).
var errNotImplemented = errors.New("sqlite store: not implemented yet")

func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	return store.PruneResult{}, errNotImplemented
}
