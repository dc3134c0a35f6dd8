package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// The methods below are not implemented yet: each returns an error
// wrapping errors.ErrUnsupported that names it, so nothing pretends to
// work. The conformance test lists the cases they fail.

func unsupported(method string) error {
	return fmt.Errorf("postgres store: %s: %w", method, errors.ErrUnsupported)
}

// Prune is not implemented yet.
func (s *Store) Prune(context.Context, store.PruneRequest) (store.PruneResult, error) {
	return store.PruneResult{}, unsupported("Prune")
}

// Accept is not implemented yet.
func (s *Store) Accept(context.Context, []store.Push, time.Time) ([][]store.Accepted, error) {
	return nil, unsupported("Accept")
}
