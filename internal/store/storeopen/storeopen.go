// Package storeopen opens the store a config's store: names: the path of
// a SQLite file (the embedded default) or a postgres:// URL. It is the
// one place that picks the implementation; nothing about a route changes
// with the store.
package storeopen

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/postgres"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// Open opens the store named by dsn. A PostgreSQL URL may carry
// schema=NAME (the schema holding ferry's tables, default "ferry"), which
// is taken off before the URL reaches the driver.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	if !config.StoreIsPostgres(dsn) {
		return sqlite.Open(ctx, dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Never quote the URL: it may hold a password.
		return nil, fmt.Errorf("open postgres store: the store URL does not parse")
	}
	q := u.Query()
	opts := postgres.Options{Schema: q.Get("schema")}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return postgres.Open(ctx, u.String(), opts)
}
