package postgres_test

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storetest"
)

// go test -run '^$' -bench . ./internal/store/postgres
func BenchmarkStore(b *testing.B) {
	needPostgres(b)
	storetest.Bench(b, func(b *testing.B) store.Store {
		return openT(b, freshSchema(b))
	})
}
