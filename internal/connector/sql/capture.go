package sqlconn

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
)

// CaptureConfig turns an sql source into change capture (the classic ERP
// integration-table pattern): triggers on the watched table write each
// inserted, updated or deleted key into an integration table, and the
// source reads that table instead of paging through its query. The query
// stays the source view: it gives the current row of each changed key.
type CaptureConfig struct {
	Table            string `yaml:"table" json:"table" jsonschema:"description=The watched table (schema.table allowed) whose inserts\\, updates and deletes are captured"`
	KeyColumn        string `yaml:"key_column,omitempty" json:"key_column,omitempty" jsonschema:"description=Column of the business key in the watched table (default: the source's key)"`
	IntegrationTable string `yaml:"integration_table,omitempty" json:"integration_table,omitempty" jsonschema:"description=Table the triggers write the changed keys into (schema.table allowed; default ferry_changes_<route>); ferry capture install creates it"`
	When             string `yaml:"when,omitempty" json:"when,omitempty" jsonschema:"description=SQL condition over the new row (NEW.column) that an insert or update must meet to be captured\\, checked in the trigger; deletes are always captured. ferry capture install checks it against the table"`

	route string       // the route's name, for the default table and the notify channel
	log   *slog.Logger // for what Wake cannot return (a lost LISTEN connection); nil: none
}

// withLogger returns c with the logger Wake reports to (nil stays nil).
func (c *CaptureConfig) withLogger(l *slog.Logger) *CaptureConfig {
	if c != nil {
		c.log = l
	}
	return c
}

// forRoute returns a copy with the defaults that depend on the route and
// the source's key filled in (nil stays nil).
func (c *CaptureConfig) forRoute(route, key string) *CaptureConfig {
	if c == nil {
		return nil
	}
	out := *c
	out.route = route
	if out.KeyColumn == "" {
		out.KeyColumn = key
	}
	if out.IntegrationTable == "" {
		out.IntegrationTable = "ferry_changes_" + identPart(route)
	}
	return &out
}

// CaptureInstaller is implemented by sources that capture changes with
// triggers (`ferry capture install/uninstall/status ROUTE`). Install and
// uninstall are idempotent; each method returns a report, one line per
// object.
type CaptureInstaller interface {
	// Capturing reports whether the source has a capture block.
	Capturing() bool
	InstallCapture(ctx context.Context) (string, error)
	UninstallCapture(ctx context.Context, dropTable bool) (string, error)
	// CaptureStatus reports what is installed and what waits;
	// installed is false when an object is missing.
	CaptureStatus(ctx context.Context) (report string, installed bool, err error)
}

var _ CaptureInstaller = (*Source)(nil)

// identPart makes a route name usable inside an identifier: lower case
// letters, digits and underscores.
func identPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// maxIdent is the longest identifier both databases accept (PostgreSQL
// 63 bytes, MariaDB 64).
const maxIdent = 63

// shortIdent keeps an identifier within maxIdent bytes; a long one is cut
// and given a hash of the whole, so two long names stay distinct.
func shortIdent(s string) string {
	if len(s) <= maxIdent {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return s[:maxIdent-9] + "_" + hex.EncodeToString(h[:4])
}

// splitTable splits schema.table; schema is "" when not given.
func splitTable(name string) (schema, table string) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
	}
	return "", name
}

// captureNames are the objects capture installs for one source.
type captureNames struct {
	watched     string // as configured
	integration string // as configured (or defaulted)
	keyColumn   string
	channel     string    // PostgreSQL NOTIFY channel
	function    string    // PostgreSQL trigger function (bare name)
	triggers    [3]string // on insert, update, delete (bare names)
}

func namesOf(c *CaptureConfig) captureNames {
	_, base := splitTable(c.IntegrationTable)
	return captureNames{
		watched:     c.Table,
		integration: c.IntegrationTable,
		keyColumn:   c.KeyColumn,
		channel:     shortIdent("ferry_" + identPart(c.route)),
		function:    shortIdent(base + "_fn"),
		triggers: [3]string{
			shortIdent(base + "_ins"), shortIdent(base + "_upd"), shortIdent(base + "_del"),
		},
	}
}

// validateCapture checks a source's capture block; sys is the config of
// the source's system (nil when it is not known).
func validateCapture(c connector.Checker, s *SourceConfig, sys any) {
	cp := s.Capture
	if cp == nil {
		return
	}
	if _, isSQLite := sys.(*SQLiteConfig); isSQLite {
		c.Errorf("capture", "change capture needs a postgres or mysql system (triggers ferry installs); %q is a sqlite system", s.System)
	}
	if strings.TrimSpace(cp.Table) == "" {
		c.Errorf("capture.table", "capture needs the watched table")
	}
	for _, f := range []struct{ field, name string }{{"capture.table", cp.Table}, {"capture.integration_table", cp.IntegrationTable}} {
		if f.name == "" {
			continue
		}
		schema, table := splitTable(f.name)
		if table == "" || (strings.Contains(f.name, ".") && schema == "") || strings.Count(f.name, ".") > 1 {
			c.Errorf(f.field, "%q is not a table name (schema.table or table)", f.name)
		}
	}
	if s.Cursor != "" {
		c.Errorf("cursor", "a source with capture reads the integration table, not by cursor: remove cursor")
	}
	if cp.IntegrationTable != "" && strings.EqualFold(strings.TrimSpace(cp.IntegrationTable), strings.TrimSpace(cp.Table)) {
		c.Errorf("capture.integration_table", "the integration table must differ from the watched table %q", cp.Table)
	}
	if strings.Contains(cp.When, ";") {
		c.Errorf("capture.when", "the condition must be one SQL expression, without ';'")
	}
	if strings.Contains(cp.When, pgBodyTag) {
		c.Errorf("capture.when", "the condition cannot contain %s", pgBodyTag)
	}
}

// Capturing reports whether the source has a capture block.
func (s *Source) Capturing() bool { return s.cfg.Capture != nil }

// captureConfig returns the source's capture block with its defaults, or
// an error naming what is missing.
func (s *Source) captureConfig() (*CaptureConfig, error) {
	c := s.cfg.Capture
	if c == nil {
		return nil, fmt.Errorf("sql source on %s has no capture block", s.db.where)
	}
	if c.KeyColumn == "" || c.IntegrationTable == "" {
		c = c.forRoute(c.route, s.cfg.Key)
	}
	if strings.TrimSpace(c.Table) == "" {
		return nil, fmt.Errorf("sql source on %s: capture needs the watched table", s.db.where)
	}
	if strings.EqualFold(strings.TrimSpace(c.Table), strings.TrimSpace(c.IntegrationTable)) {
		return nil, fmt.Errorf("sql source on %s: the integration table must differ from the watched table %s", s.db.where, c.Table)
	}
	return c, nil
}

// InstallCapture creates the integration table (unless it exists) and
// (re)creates the triggers, so running it twice is harmless and a changed
// when: condition takes effect.
func (s *Source) InstallCapture(ctx context.Context) (string, error) {
	c, err := s.captureConfig()
	if err != nil {
		return "", err
	}
	n := namesOf(c)
	var rep report
	switch s.db.dialect.name {
	case "postgres":
		err = s.installPostgres(ctx, c, n, &rep)
	case "mysql":
		err = s.installMySQL(ctx, c, n, &rep)
	default:
		return "", fmt.Errorf("capture on %s: change capture needs PostgreSQL or MariaDB/MySQL", s.db.where)
	}
	if err != nil {
		return rep.String(), err
	}
	return rep.String(), nil
}

// UninstallCapture removes the triggers (and the PostgreSQL function);
// with dropTable also the integration table. Missing objects are
// reported, not errors.
func (s *Source) UninstallCapture(ctx context.Context, dropTable bool) (string, error) {
	c, err := s.captureConfig()
	if err != nil {
		return "", err
	}
	n := namesOf(c)
	var rep report
	switch s.db.dialect.name {
	case "postgres":
		err = s.uninstallPostgres(ctx, n, dropTable, &rep)
	case "mysql":
		err = s.uninstallMySQL(ctx, n, dropTable, &rep)
	default:
		return "", fmt.Errorf("capture on %s: change capture needs PostgreSQL or MariaDB/MySQL", s.db.where)
	}
	return rep.String(), err
}

// report collects the lines install and uninstall print.
type report struct{ lines []string }

func (r *report) add(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *report) String() string {
	if len(r.lines) == 0 {
		return ""
	}
	return strings.Join(r.lines, "\n") + "\n"
}

// pendingNote says how many changes wait in a kept integration table.
func (s *Source) pendingNote(ctx context.Context, table string) string {
	var n int64
	q := "SELECT COUNT(*) FROM " + s.db.dialect.quoteTable(table)
	if err := s.db.pool.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return ""
	}
	switch n {
	case 0:
		return ", no changes waiting"
	case 1:
		return ", 1 change waiting"
	}
	return fmt.Sprintf(", %d changes waiting", n)
}

// checkWatched checks that the watched table has the key column and that
// the when: condition is a valid condition over its rows, before any
// trigger could fail the application's writes.
func (s *Source) checkWatched(ctx context.Context, c *CaptureConfig) error {
	d := s.db.dialect
	q := "SELECT " + d.quote(c.KeyColumn) + " FROM " + d.quoteTable(c.Table) + " WHERE 1=0"
	rows, err := s.db.pool.QueryContext(ctx, q)
	if err != nil {
		return s.db.errorf(err, "capture on %s: watched table %s, key column %s", s.db.where, c.Table, c.KeyColumn)
	}
	rows.Close()
	if strings.TrimSpace(c.When) == "" {
		return nil
	}
	// The trigger sees the row as NEW: the same name as an alias lets the
	// database check columns and types now.
	q = "SELECT 1 FROM " + d.quoteTable(c.Table) + " AS NEW WHERE (" + c.When + ") AND 1=0"
	rows, err = s.db.pool.QueryContext(ctx, q)
	if err != nil {
		return s.db.errorf(err, "capture on %s: when %q is not a valid condition over the new row of %s (write columns as NEW.column)", s.db.where, c.When, c.Table)
	}
	rows.Close()
	return nil
}

// CaptureStatus reports what of the capture is installed and how many
// changes wait in the integration table (and since when); installed is
// false when an object is missing.
func (s *Source) CaptureStatus(ctx context.Context) (rep string, installed bool, err error) {
	c, err := s.captureConfig()
	if err != nil {
		return "", false, err
	}
	n := namesOf(c)
	var r report
	switch s.db.dialect.name {
	case "postgres":
		installed, err = s.statusPostgres(ctx, n, &r)
	case "mysql":
		installed, err = s.statusMySQL(ctx, n, &r)
	default:
		return "", false, fmt.Errorf("capture on %s: change capture needs PostgreSQL or MariaDB/MySQL", s.db.where)
	}
	return r.String(), installed, err
}

// waiting describes the changes in an existing integration table.
func (s *Source) waiting(ctx context.Context, table string) (string, error) {
	d := s.db.dialect
	var n int64
	var oldest sql.NullTime
	q := "SELECT COUNT(*), MIN(" + d.quote("captured_at") + ") FROM " + table
	if err := s.db.pool.QueryRowContext(ctx, q).Scan(&n, &oldest); err != nil {
		return "", s.db.errorf(err, "capture on %s: count changes in %s", s.db.where, table)
	}
	switch {
	case n == 0:
		return "no changes waiting", nil
	case n == 1:
		return "1 change waiting, captured " + formatTime(oldest.Time), nil
	}
	return fmt.Sprintf("%d changes waiting, the oldest captured %s", n, formatTime(oldest.Time)), nil
}

func installedOr(ok bool, missing string) string {
	if ok {
		return "installed"
	}
	return missing
}

func (s *Source) statusPostgres(ctx context.Context, n captureNames, r *report) (bool, error) {
	d := s.db.dialect
	wSchema, wTable, wExists, err := s.pgQualified(ctx, s.db.pool, n.watched)
	if err != nil {
		return false, err
	}
	iSchema, iTable, iExists, err := s.pgQualified(ctx, s.db.pool, n.integration)
	if err != nil {
		return false, err
	}
	all := wExists && iExists
	if iExists {
		w, err := s.waiting(ctx, d.quote(iSchema)+"."+d.quote(iTable))
		if err != nil {
			return false, err
		}
		r.add("integration table %s.%s: %s", iSchema, iTable, w)
	} else {
		r.add("integration table %s.%s: missing", iSchema, iTable)
	}
	var fnExists bool
	if err := s.db.pool.QueryRowContext(ctx, "SELECT to_regprocedure($1) IS NOT NULL",
		d.quote(iSchema)+"."+d.quote(n.function)+"()").Scan(&fnExists); err != nil {
		return false, s.db.errorf(err, "capture on %s: look up function %s", s.db.where, n.function)
	}
	r.add("function %s.%s(): %s", iSchema, n.function, installedOr(fnExists, "missing"))
	all = all && fnExists
	if !wExists {
		r.add("watched table %s: missing", n.watched)
		return false, nil
	}
	for i, name := range n.triggers {
		ok, err := pgTriggerExists(ctx, s.db.pool, d.quote(wSchema)+"."+d.quote(wTable), name)
		if err != nil {
			return false, s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, name)
		}
		r.add("trigger %s on %s.%s (after %s): %s", name, wSchema, wTable, captureEvents[i], installedOr(ok, "missing"))
		all = all && ok
	}
	return all, nil
}

func (s *Source) statusMySQL(ctx context.Context, n captureNames, r *report) (bool, error) {
	d := s.db.dialect
	wSchema, wTable, err := s.mysqlSchema(ctx, n.watched)
	if err != nil {
		return false, err
	}
	iSchema, iTable, err := s.mysqlSchema(ctx, n.integration)
	if err != nil {
		return false, err
	}
	all, err := s.mysqlTableExists(ctx, iSchema, iTable)
	if err != nil {
		return false, err
	}
	if all {
		w, err := s.waiting(ctx, d.quote(iSchema)+"."+d.quote(iTable))
		if err != nil {
			return false, err
		}
		r.add("integration table %s.%s: %s", iSchema, iTable, w)
	} else {
		r.add("integration table %s.%s: missing", iSchema, iTable)
	}
	for i, name := range n.triggers {
		tr, err := s.mysqlTriggerOf(ctx, wSchema, name)
		if err != nil {
			return false, err
		}
		ok := tr.exists && tr.tbl == wTable
		r.add("trigger %s.%s on %s.%s (after %s): %s", wSchema, name, wSchema, wTable, captureEvents[i], installedOr(ok, "missing"))
		all = all && ok
	}
	return all, nil
}
