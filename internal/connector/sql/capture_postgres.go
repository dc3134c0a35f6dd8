package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// pgBodyTag quotes the trigger function's body; the when: condition may
// not contain it.
const pgBodyTag = "$ferry_capture$"

// pgQualified resolves a possibly unqualified table name to schema and
// table: the trigger function runs in the application's sessions, whose
// search_path may differ from ferry's, so everything it names is
// qualified. An unqualified name resolves as in ferry's session (an
// existing table through search_path, a new one in current_schema()).
func (s *Source) pgQualified(ctx context.Context, q querier, name string) (schema, table string, exists bool, err error) {
	schema, table = splitTable(name)
	var ns, rel sql.NullString
	err = q.QueryRowContext(ctx, `SELECT n.nspname, c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
		s.db.dialect.quoteTable(name)).Scan(&ns, &rel)
	switch {
	case err == nil:
		return ns.String, rel.String, true, nil
	case err != sql.ErrNoRows:
		return "", "", false, s.db.errorf(err, "capture on %s: look up table %s", s.db.where, name)
	}
	if schema != "" {
		return schema, table, false, nil
	}
	var cur sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
		return "", "", false, s.db.errorf(err, "capture on %s: current schema", s.db.where)
	}
	if !cur.Valid {
		return "", "", false, fmt.Errorf("capture on %s: no schema of the search_path exists to create %s in; qualify it as schema.table", s.db.where, name)
	}
	return cur.String, table, false, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Source) installPostgres(ctx context.Context, c *CaptureConfig, n captureNames, rep *report) error {
	if err := s.checkWatched(ctx, c); err != nil {
		return err
	}
	d := s.db.dialect
	tx, err := s.db.pool.BeginTx(ctx, nil)
	if err != nil {
		return s.db.errorf(err, "capture on %s: begin", s.db.where)
	}
	defer tx.Rollback()
	wSchema, wTable, wExists, err := s.pgQualified(ctx, tx, c.Table)
	if err != nil {
		return err
	}
	if !wExists {
		return fmt.Errorf("capture on %s: watched table %s does not exist", s.db.where, c.Table)
	}
	iSchema, iTable, iExists, err := s.pgQualified(ctx, tx, c.IntegrationTable)
	if err != nil {
		return err
	}
	watched := d.quote(wSchema) + "." + d.quote(wTable)
	integ := d.quote(iSchema) + "." + d.quote(iTable)
	fn := d.quote(iSchema) + "." + d.quote(n.function)
	trg := d.quote(n.trigger)

	if iExists {
		if err := s.checkIntegrationTable(ctx, tx, integ); err != nil {
			return err
		}
		rep.add("integration table %s.%s exists, kept", iSchema, iTable)
	} else {
		ddl := "CREATE TABLE " + integ + ` (
			id bigserial PRIMARY KEY,
			key text NOT NULL,
			op char(1) NOT NULL CHECK (op IN ('I', 'U', 'D')),
			captured_at timestamptz NOT NULL DEFAULT now())`
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return s.db.errorf(err, "capture on %s: create integration table %s", s.db.where, c.IntegrationTable)
		}
		rep.add("created integration table %s.%s", iSchema, iTable)
	}

	var fnExists bool
	if err := tx.QueryRowContext(ctx, "SELECT to_regprocedure($1) IS NOT NULL", fn+"()").Scan(&fnExists); err != nil {
		return s.db.errorf(err, "capture on %s: look up function %s", s.db.where, n.function)
	}
	if _, err := tx.ExecContext(ctx, pgFunction(fn, integ, d.quote(c.KeyColumn), c.When, n.channel)); err != nil {
		return s.db.errorf(err, "capture on %s: create function %s", s.db.where, n.function)
	}
	rep.add("%s function %s.%s() (writes %s's changed %s into %s.%s, notifies %s)",
		createdOrReplaced(fnExists), iSchema, n.function, wTable, c.KeyColumn, iSchema, iTable, n.channel)

	var trgExists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)",
		watched, n.trigger).Scan(&trgExists); err != nil {
		return s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, n.trigger)
	}
	for _, q := range []string{
		"DROP TRIGGER IF EXISTS " + trg + " ON " + watched,
		"CREATE TRIGGER " + trg + " AFTER INSERT OR UPDATE OR DELETE ON " + watched +
			" FOR EACH ROW EXECUTE FUNCTION " + fn + "()",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return s.db.errorf(err, "capture on %s: create trigger %s on %s", s.db.where, n.trigger, c.Table)
		}
	}
	rep.add("%s trigger %s on %s.%s (after insert, update, delete)", createdOrReplaced(trgExists), n.trigger, wSchema, wTable)
	if err := tx.Commit(); err != nil {
		rep.lines = nil // nothing of it happened
		return s.db.errorf(err, "capture on %s: commit", s.db.where)
	}
	return nil
}

func createdOrReplaced(existed bool) string {
	if existed {
		return "replaced"
	}
	return "created"
}

// pgFunction is the trigger function: one integration row per changed
// key (a key changed by an update also deletes the old key), never
// failing the application's write on a NULL key.
func pgFunction(fn, integ, key, when, channel string) string {
	cond := "TRUE"
	if strings.TrimSpace(when) != "" {
		cond = "(" + when + ")"
	}
	ins := "INSERT INTO " + integ + " (key, op) VALUES "
	return "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS " + pgBodyTag + `
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.` + key + ` IS NOT NULL THEN
      ` + ins + `(OLD.` + key + `::text, 'D');
    END IF;
  ELSE
    IF TG_OP = 'UPDATE' AND OLD.` + key + ` IS NOT NULL AND OLD.` + key + ` IS DISTINCT FROM NEW.` + key + ` THEN
      ` + ins + `(OLD.` + key + `::text, 'D');
    END IF;
    IF NEW.` + key + ` IS NOT NULL AND ` + cond + ` THEN
      ` + ins + `(NEW.` + key + `::text, left(TG_OP, 1));
    END IF;
  END IF;
  PERFORM pg_notify('` + channel + `', '');
  RETURN NULL;
END
` + pgBodyTag
}

// checkIntegrationTable checks that an existing table has the columns
// ferry reads and deletes by.
func (s *Source) checkIntegrationTable(ctx context.Context, q querier, table string) error {
	d := s.db.dialect
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT "+d.quote("id")+", "+d.quote("key")+", "+d.quote("op")+
		" FROM "+table+" WHERE 1=0) t").Scan(&n)
	if err != nil {
		return s.db.errorf(err, "capture on %s: %s exists but is not an integration table (id, key, op)", s.db.where, table)
	}
	return nil
}

func (s *Source) uninstallPostgres(ctx context.Context, n captureNames, dropTable bool, rep *report) error {
	d := s.db.dialect
	tx, err := s.db.pool.BeginTx(ctx, nil)
	if err != nil {
		return s.db.errorf(err, "capture on %s: begin", s.db.where)
	}
	defer tx.Rollback()
	wSchema, wTable, wExists, err := s.pgQualified(ctx, tx, n.watched)
	if err != nil {
		return err
	}
	iSchema, iTable, iExists, err := s.pgQualified(ctx, tx, n.integration)
	if err != nil {
		return err
	}
	watched := d.quote(wSchema) + "." + d.quote(wTable)
	integ := d.quote(iSchema) + "." + d.quote(iTable)
	fn := d.quote(iSchema) + "." + d.quote(n.function)

	if !wExists {
		rep.add("watched table %s does not exist: no trigger to remove", n.watched)
	} else {
		var trgExists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)",
			watched, n.trigger).Scan(&trgExists); err != nil {
			return s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, n.trigger)
		}
		if trgExists {
			if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+d.quote(n.trigger)+" ON "+watched); err != nil {
				return s.db.errorf(err, "capture on %s: drop trigger %s", s.db.where, n.trigger)
			}
			rep.add("removed trigger %s on %s.%s", n.trigger, wSchema, wTable)
		} else {
			rep.add("no trigger %s on %s.%s: nothing to remove", n.trigger, wSchema, wTable)
		}
	}

	var fnExists bool
	if err := tx.QueryRowContext(ctx, "SELECT to_regprocedure($1) IS NOT NULL", fn+"()").Scan(&fnExists); err != nil {
		return s.db.errorf(err, "capture on %s: look up function %s", s.db.where, n.function)
	}
	if fnExists {
		if _, err := tx.ExecContext(ctx, "DROP FUNCTION IF EXISTS "+fn+"()"); err != nil {
			return s.db.errorf(err, "capture on %s: drop function %s", s.db.where, n.function)
		}
		rep.add("removed function %s.%s()", iSchema, n.function)
	} else {
		rep.add("no function %s.%s(): nothing to remove", iSchema, n.function)
	}

	switch {
	case !iExists:
		rep.add("no integration table %s.%s", iSchema, iTable)
	case dropTable:
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+integ); err != nil {
			return s.db.errorf(err, "capture on %s: drop integration table %s", s.db.where, n.integration)
		}
		rep.add("dropped integration table %s.%s", iSchema, iTable)
	default:
		rep.add("kept integration table %s.%s%s (--drop-table removes it)", iSchema, iTable, s.pendingNote(ctx, n.integration))
	}
	if err := tx.Commit(); err != nil {
		rep.lines = nil
		return s.db.errorf(err, "capture on %s: commit", s.db.where)
	}
	return nil
}
