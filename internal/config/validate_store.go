package config

import (
	"net/url"
	"regexp"
	"strings"
)

// storeSchema is the form of a store URL's schema=NAME.
var storeSchema = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// storeSchemes are the URL schemes store: takes besides a file path.
var storeSchemes = []string{"postgres", "postgresql"}

// store checks the form of store: a SQLite file path, or a PostgreSQL
// URL whose password (if any) comes from ${env:...} or ${file:...}. The
// value is never quoted: a URL may hold a password.
func (v *validator) store() {
	s := v.cfg.Store
	scheme, _, isURL := strings.Cut(s, "://")
	if !isURL {
		return
	}
	if !contains(storeSchemes, strings.ToLower(scheme)) {
		v.doc.errorf("store", "unknown store scheme %q: expected the path of a SQLite file (ferry.db) or a PostgreSQL URL (postgres://user@host:5432/db)", scheme)
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.doc.errorf("store", "not a valid PostgreSQL URL (expected postgres://user@host:5432/db?sslmode=...; characters such as @ / : in a password must be URL-encoded)")
		return
	}
	if u.Host == "" {
		v.doc.errorf("store", "the PostgreSQL URL has no host (expected postgres://user@host:5432/db)")
	}
	if strings.Trim(u.Path, "/") == "" {
		v.doc.errorf("store", "the PostgreSQL URL names no database (expected postgres://user@host:5432/db)")
	}
	if schema := u.Query().Get("schema"); u.Query().Has("schema") && !storeSchema.MatchString(schema) {
		v.doc.errorf("store", "schema=%q: expected a lower-case name of letters, digits and '_' (at most 63 characters), the PostgreSQL schema holding ferry's tables (default ferry)", schema)
	}
	if _, hasPassword := u.User.Password(); hasPassword && !v.secrets["store"] {
		v.doc.errorf("store", "the PostgreSQL password is written in the file: take it from the environment or a file, e.g. store: \"postgres://ferry:${env:FERRY_DB_PASSWORD}@db:5432/ferry\"")
	}
}

// StoreIsPostgres reports whether store: names a PostgreSQL database
// (a postgres:// or postgresql:// URL) rather than a SQLite file.
func StoreIsPostgres(store string) bool {
	scheme, _, ok := strings.Cut(store, "://")
	return ok && contains(storeSchemes, strings.ToLower(scheme))
}
