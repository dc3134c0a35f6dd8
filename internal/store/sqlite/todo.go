package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Placeholders for the store methods the hardening issue adds; each is
// replaced by its real implementation (and this file removed).
var errNotImplemented = errors.New("sqlite store: not implemented yet")

func (s *Store) Discard(ctx context.Context, sel store.DiscardSelector) (int, error) {
	return 0, errNotImplemented
}

func (s *Store) Resend(ctx context.Context, route, key, who string, now time.Time) (store.Entry, error) {
	return store.Entry{}, errNotImplemented
}

func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	return store.PruneResult{}, errNotImplemented
}
