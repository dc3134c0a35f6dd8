package service_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

// faultyStore is a store that failed for good (store.Faulter), as the
// SQLite store after a failed sync of its log.
type faultyStore struct {
	store.Store
	fault error
}

func (f faultyStore) Fault() error { return f.fault }

// A store that refuses durable commits makes the service not ready, so
// /readyz takes the process out of a load balancer and asks for the
// restart the store needs.
func TestNotReadyWhileTheStoreIsFaulted(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, "", hookRoute)
	fs := &faultyStore{Store: h.store}
	h.svc = h.build(fs, "")
	h.start()
	ctx := context.Background()
	if err := h.svc.Ready(ctx); err != nil {
		t.Fatalf("a sound store: %v", err)
	}
	fs.fault = fmt.Errorf("%w: fdatasync ferry.db-wal: input/output error", store.ErrSyncFailed)
	if err := h.svc.Ready(ctx); !errors.Is(err, store.ErrSyncFailed) {
		t.Fatalf("a faulted store: Ready = %v, want store.ErrSyncFailed", err)
	}
}
