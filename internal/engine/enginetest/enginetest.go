// Package enginetest builds an engine for a loaded config on a real
// SQLite store: the set-up every end-to-end test of a connector or of the
// engine repeats, in one place.
package enginetest

import (
	"context"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// New opens the store at storePath ("" for cfg.Store), builds the
// config's connectors and an engine with opts, and closes the connectors
// and then the store when t ends. Any failure ends the test.
func New(t testing.TB, cfg *config.Config, storePath string, opts engine.Options) (*engine.Engine, *sqlite.Store) {
	t.Helper()
	if storePath == "" {
		storePath = cfg.Store
	}
	st, err := sqlite.Open(context.Background(), storePath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatalf("build connectors: %v", err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("close connectors: %v", err)
		}
	})
	eng, err := engine.New(cfg, st, reg, opts)
	if err != nil {
		t.Fatalf("build engine: %v", err)
	}
	return eng, st
}
