package sqlite

// Stubs of the Store methods added for issue 8, so the tree compiles
// while the store helper implements them. Delete each as it is built.

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

var errStub = errors.New("sqlite: not implemented yet")

func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	return nil, errStub
}
func (s *Store) Accept(ctx context.Context, pushes []store.Push, now time.Time) ([][]store.Accepted, error) {
	return nil, errStub
}
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) (int, error) {
	return 0, errStub
}
func (s *Store) Lead(ctx context.Context, role, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	return "", false, errStub
}
func (s *Store) Resign(ctx context.Context, role, owner string) error   { return errStub }
func (s *Store) Beat(ctx context.Context, p store.Process) error        { return errStub }
func (s *Store) Processes(ctx context.Context) ([]store.Process, error) { return nil, errStub }
func (s *Store) ForgetProcess(ctx context.Context, id string) error     { return errStub }
func (s *Store) Ticks(ctx context.Context) ([]store.Tick, error)        { return nil, errStub }
func (s *Store) ClaimTick(ctx context.Context, c store.TickClaim) (bool, error) {
	return false, errStub
}
