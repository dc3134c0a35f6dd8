// Package sqlconn is ferry's SQL connector: PostgreSQL (pgx), MariaDB and
// MySQL (go-sql-driver/mysql) and SQLite (modernc). Three system kinds
// (postgres, mysql, sqlite) name a database; the sql kind reads a query
// with keyset pagination, upserts records into a table (or runs a
// statement per record) and runs statements as follow-up operations.
package sqlconn

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/connector"
)

const (
	defaultMaxConnections = 4
	defaultConnectTimeout = 10 * time.Second
	defaultBusyTimeout    = 5 * time.Second
	defaultPageSize       = 1000
	maxPageSize           = 100000
)

// PostgresConfig is a postgres system.
type PostgresConfig struct {
	DSN            string `yaml:"dsn" json:"dsn" jsonschema:"description=Connection string (postgres://user:password@host:5432/db?sslmode=disable or key=value form); write it as ${env:NAME} or ${file:PATH}: it never appears in messages or logs"`
	MaxConnections int    `yaml:"max_connections,omitempty" json:"max_connections,omitempty" jsonschema:"description=Connections the pool may open\\, shared by every route using this system (default 4)"`
	ConnectTimeout string `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty" jsonschema:"description=How long to wait for a connection\\, a duration such as 10s (default 10s)"`
}

// MySQLConfig is a mysql (MariaDB or MySQL) system.
type MySQLConfig struct {
	DSN            string `yaml:"dsn" json:"dsn" jsonschema:"description=Connection string in the go-sql-driver form (user:password@tcp(host:3306)/db); write it as ${env:NAME} or ${file:PATH}: it never appears in messages or logs. Times are read and written in UTC unless it sets loc"`
	MaxConnections int    `yaml:"max_connections,omitempty" json:"max_connections,omitempty" jsonschema:"description=Connections the pool may open\\, shared by every route using this system (default 4)"`
	ConnectTimeout string `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty" jsonschema:"description=How long to wait for a connection\\, a duration such as 10s (default 10s)"`
}

// SQLiteConfig is a sqlite system.
type SQLiteConfig struct {
	Path           string `yaml:"path" json:"path" jsonschema:"description=The database file\\, relative to the config file's folder"`
	MaxConnections int    `yaml:"max_connections,omitempty" json:"max_connections,omitempty" jsonschema:"description=Connections the pool may open (default 4)"`
	BusyTimeout    string `yaml:"busy_timeout,omitempty" json:"busy_timeout,omitempty" jsonschema:"description=How long a statement waits for another writer's lock\\, a duration such as 5s (default 5s)"`
}

// SourceConfig is an sql source.
type SourceConfig struct {
	System   string   `yaml:"system" json:"system" jsonschema:"description=The postgres\\, mysql or sqlite system to read from"`
	Query    string   `yaml:"query" json:"query" jsonschema:"description=A SELECT returning one row per record; ferry wraps it as a subquery to page through it by cursor and key (no LIMIT or ORDER BY needed)"`
	Key      string   `yaml:"key" json:"key" jsonschema:"description=Column of the business key; unique among the query's rows"`
	Cursor   string   `yaml:"cursor,omitempty" json:"cursor,omitempty" jsonschema:"description=Column of the incremental watermark (an updated_at or a growing id); a run reads only rows with a later value. Rows whose cursor is NULL are read by full reads only. On PostgreSQL and MariaDB it must be a timestamp\\, date or number column: text is ordered by a collation ferry cannot follow"`
	PageSize int      `yaml:"page_size,omitempty" json:"page_size,omitempty" jsonschema:"description=Rows per page (one query each; default 1000)"`
	Decimals string   `yaml:"decimals,omitempty" json:"decimals,omitempty" jsonschema:"enum=string,enum=number,description=NUMERIC/DECIMAL values as exact JSON strings (string\\, the default) or as JSON numbers (number): exact too\\, a float only where it holds the decimal exactly (so expressions can compute with it)\\, the digits as written otherwise"`
	JSON     []string `yaml:"json,omitempty" json:"json,omitempty" jsonschema:"description=Columns holding JSON text to decode into JSON values (MariaDB's JSON and SQLite's text columns; PostgreSQL json/jsonb and MySQL JSON columns are decoded anyway)"`

	// Capture turns the source into change capture (capture.go).
	Prune   *bool          `yaml:"prune,omitempty" json:"prune,omitempty" jsonschema:"description=Before sending\\, drop records whose key the query no longer returns (counted as pruned). Default: on with capture: (a row deleted after it was captured)\\, off otherwise (a row that left a filtered query is still sent)"`
	Capture *CaptureConfig `yaml:"capture,omitempty" json:"capture,omitempty" jsonschema:"description=Change capture: read the keys that triggers wrote into an integration table instead of paging through the query (see ferry capture install)"`
}

// DestinationConfig is an sql destination.
type DestinationConfig struct {
	System    string   `yaml:"system" json:"system" jsonschema:"description=The postgres\\, mysql or sqlite system to write to"`
	Table     string   `yaml:"table,omitempty" json:"table,omitempty" jsonschema:"description=Table to upsert into (schema.table allowed); records' fields are its columns"`
	Key       string   `yaml:"key,omitempty" json:"key,omitempty" jsonschema:"description=The table's key column(s)\\, comma-separated\\, with a unique index or primary key on exactly them (default: the record key into a column named id)"`
	Columns   []string `yaml:"columns,omitempty" json:"columns,omitempty" jsonschema:"description=Write only these columns\\, in this order (a field the record lacks is written as NULL); default: every field of the record"`
	Statement string   `yaml:"statement,omitempty" json:"statement,omitempty" jsonschema:"description=Instead of table: a statement run for each record in the batch's transaction\\, with named parameters :field (:key is the record key)"`
}

// OperationConfig is an sql operation (after:, on_error:).
type OperationConfig struct {
	System    string `yaml:"system" json:"system" jsonschema:"description=The postgres\\, mysql or sqlite system to run the statement on"`
	Statement string `yaml:"statement" json:"statement" jsonschema:"description=The statement\\, with named parameters :field from the record (:key is the record key\\, :error the error on on_error:)"`
}

var systemKinds = []string{"postgres", "mysql", "sqlite"}

// Kinds returns the postgres, mysql and sqlite system kinds and the sql
// kind (source, destination, operation).
func Kinds() []connector.Kind {
	sys := func(kind string, cfg func() any, validate func(connector.Checker, any)) *connector.SystemPart {
		return &connector.SystemPart{
			Spec: connector.Spec{Config: cfg, Validate: validate, Caps: []connector.Capability{connector.CapHealth}},
			Build: func(_ context.Context, env connector.Env, name string, cfg any) (connector.System, error) {
				return openSystem(env, kind, name, cfg)
			},
		}
	}
	return []connector.Kind{
		{
			Name:    "postgres",
			Summary: "A PostgreSQL database, for sql sources, destinations and operations",
			Doc:     postgresDoc,
			System:  sys("postgres", func() any { return &PostgresConfig{} }, validatePostgres),
		},
		{
			Name:    "mysql",
			Summary: "A MariaDB or MySQL database, for sql sources, destinations and operations",
			Doc:     mysqlDoc,
			System:  sys("mysql", func() any { return &MySQLConfig{} }, validateMySQL),
		},
		{
			Name:    "sqlite",
			Summary: "A SQLite database file, for sql sources, destinations and operations",
			Doc:     sqliteDoc,
			System:  sys("sqlite", func() any { return &SQLiteConfig{} }, validateSQLite),
		},
		{
			Name:    "sql",
			Summary: "Read a query page by page, upsert into a table or run a statement per record",
			Doc:     sqlDoc,
			Source: &connector.SourcePart{
				Spec: connector.Spec{
					Config:   func() any { return &SourceConfig{} },
					Defaults: defaultSource,
					Validate: validateSource,
					Caps:     []connector.Capability{connector.CapCursor, connector.CapPrune, connector.CapAck, connector.CapDeletes, connector.CapWake},
				},
				Build: buildSource,
			},
			Destination: &connector.DestinationPart{
				Spec: connector.Spec{
					Config:   func() any { return &DestinationConfig{} },
					Validate: validateDestination,
					Caps: []connector.Capability{connector.CapBatch, connector.CapUpsert,
						connector.CapDeletes, connector.CapPreview},
				},
				Build: buildDestination,
			},
			Operation: &connector.OperationPart{
				Spec: connector.Spec{
					Config:   func() any { return &OperationConfig{} },
					Validate: validateOperation,
				},
				Build: buildOperation,
			},
		},
	}
}

func validateDuration(c connector.Checker, field, s string) {
	if s == "" {
		return
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		c.Errorf(field, "expected a positive duration such as 10s, got %q", s)
	}
}

func validatePostgres(c connector.Checker, cfg any) {
	p := cfg.(*PostgresConfig)
	if strings.TrimSpace(p.DSN) == "" {
		c.Errorf("dsn", "a postgres system needs a dsn (for example ${env:ERP_DSN})")
	} else if _, err := pgx.ParseConfig(p.DSN); err != nil {
		badDSN(c, "PostgreSQL", "postgres://user:password@host:5432/db or host=... dbname=...", err)
	}
	if p.MaxConnections < 0 {
		c.Errorf("max_connections", "must be at least 1")
	}
	validateDuration(c, "connect_timeout", p.ConnectTimeout)
}

func validateMySQL(c connector.Checker, cfg any) {
	p := cfg.(*MySQLConfig)
	if strings.TrimSpace(p.DSN) == "" {
		c.Errorf("dsn", "a mysql system needs a dsn (for example ${env:ERP_DSN})")
	} else if _, err := mysql.ParseDSN(p.DSN); err != nil {
		badDSN(c, "MySQL", "user:password@tcp(host:3306)/db", err)
	}
	if p.MaxConnections < 0 {
		c.Errorf("max_connections", "must be at least 1")
	}
	validateDuration(c, "connect_timeout", p.ConnectTimeout)
}

// badDSN reports a DSN that does not parse; the driver's reason only when
// the value is not a secret (it may quote part of the DSN).
func badDSN(c connector.Checker, db, form string, err error) {
	if c.Secret("dsn") {
		c.Errorf("dsn", "not a %s connection string (%s)", db, form)
		return
	}
	c.Errorf("dsn", "not a %s connection string (%s): %v", db, form, err)
}

func validateSQLite(c connector.Checker, cfg any) {
	p := cfg.(*SQLiteConfig)
	if strings.TrimSpace(p.Path) == "" {
		c.Errorf("path", "a sqlite system needs the path of its database file")
	}
	if p.MaxConnections < 0 {
		c.Errorf("max_connections", "must be at least 1")
	}
	validateDuration(c, "busy_timeout", p.BusyTimeout)
}

func defaultSource(cfg any) {
	s := cfg.(*SourceConfig)
	if s.PageSize == 0 {
		s.PageSize = defaultPageSize
	}
	if s.Decimals == "" {
		s.Decimals = "string"
	}
}

func validateSource(c connector.Checker, cfg any) {
	s := cfg.(*SourceConfig)
	sysCfg, _ := c.System("system", s.System, systemKinds...)
	validateCapture(c, s, sysCfg)
	if strings.TrimSpace(trimQuery(s.Query)) == "" {
		c.Errorf("query", "an sql source needs a query (a SELECT)")
	}
	if strings.TrimSpace(s.Key) == "" {
		c.Errorf("key", "an sql source needs the column of the business key")
	}
	if s.Cursor != "" && s.Cursor == s.Key {
		c.Errorf("cursor", "the cursor column must differ from the key column (the key already breaks ties)")
	}
	if s.PageSize < 0 || s.PageSize > maxPageSize {
		c.Errorf("page_size", "must be between 1 and %d, got %d", maxPageSize, s.PageSize)
	}
	if s.Decimals != "" && s.Decimals != "string" && s.Decimals != "number" {
		c.Errorf("decimals", "expected string or number, got %q", s.Decimals)
	}
}

func validateDestination(c connector.Checker, cfg any) {
	d := cfg.(*DestinationConfig)
	c.System("system", d.System, systemKinds...)
	switch {
	case d.Table == "" && d.Statement == "":
		c.Errorf("", "an sql destination needs a table (to upsert into) or a statement")
	case d.Table != "" && d.Statement != "":
		c.Errorf("statement", "give either table or statement, not both")
	}
	if d.Statement != "" {
		if len(d.Columns) > 0 {
			c.Errorf("columns", "columns applies to table, not to statement")
		}
		if _, err := parseNamed(d.Statement); err != nil {
			c.Errorf("statement", "%v", err)
		}
	}
	if d.Table != "" {
		for _, p := range strings.Split(d.Table, ".") {
			if strings.TrimSpace(p) == "" {
				c.Errorf("table", "%q is not a table name (schema.table or table)", d.Table)
				break
			}
		}
		keys := splitKey(d.Key)
		if d.Key != "" && len(keys) == 0 {
			c.Errorf("key", "no column in %q", d.Key)
		}
		if len(d.Columns) > 0 {
			have := map[string]bool{}
			for i, col := range d.Columns {
				if strings.TrimSpace(col) == "" {
					c.Errorf(fmt.Sprintf("columns.%d", i), "empty column name")
				}
				if have[col] {
					c.Errorf(fmt.Sprintf("columns.%d", i), "column %q is listed twice", col)
				}
				have[col] = true
			}
			for _, k := range keys {
				if !have[k] {
					c.Errorf("columns", "the key column %q must be one of the columns", k)
				}
			}
		}
	}
}

func validateOperation(c connector.Checker, cfg any) {
	o := cfg.(*OperationConfig)
	c.System("system", o.System, systemKinds...)
	if strings.TrimSpace(o.Statement) == "" {
		c.Errorf("statement", "an sql operation needs a statement")
		return
	}
	if _, err := parseNamed(o.Statement); err != nil {
		c.Errorf("statement", "%v", err)
	}
}

// splitKey splits "a, b" into its columns.
func splitKey(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// trimQuery drops a trailing semicolon and space, which a subquery cannot
// carry.
func trimQuery(q string) string {
	return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
}

// system resolves a part's system into a *DB.
func system(env connector.Env, name string) (*DB, error) {
	return connector.SystemAs[*DB](env, name, "a postgres, mysql or sqlite")
}
