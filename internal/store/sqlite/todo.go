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

func (s *Store) LeaseOutbox(ctx context.Context, route, owner string, limit int, now, until time.Time) ([]store.OutboxItem, error) {
	return nil, nil
}

func (s *Store) SettleOutbox(ctx context.Context, owner string, st []store.OutboxSettlement) error {
	return errNotImplemented
}

func (s *Store) Outbox(ctx context.Context, route string, limit int) ([]store.OutboxItem, error) {
	return nil, nil
}

func (s *Store) ReleaseOutbox(ctx context.Context, route string, now time.Time, owners []string) (int, error) {
	return 0, nil
}

func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	return store.PruneResult{}, errNotImplemented
}
