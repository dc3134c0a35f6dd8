package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storetest"
)

// go test -run '^$' -bench . ./internal/store/sqlite
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		return openT(b, filepath.Join(b.TempDir(), "ferry.db"))
	})
}
