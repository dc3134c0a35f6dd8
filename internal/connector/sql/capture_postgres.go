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

// installPostgres does everything in one transaction: on an error nothing
// was changed, and the report says so.
func (s *Source) installPostgres(ctx context.Context, c *CaptureConfig, n captureNames, rep *report) (err error) {
	defer rolledBack(rep, &err)
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

	for i, name := range n.triggers {
		existed, err := pgTriggerExists(ctx, tx, watched, name)
		if err != nil {
			return s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, name)
		}
		ev := strings.ToUpper(captureEvents[i])
		refs := map[string]string{"INSERT": "NEW TABLE AS ferry_new", "UPDATE": "OLD TABLE AS ferry_old NEW TABLE AS ferry_new", "DELETE": "OLD TABLE AS ferry_old"}[ev]
		for _, q := range []string{
			"DROP TRIGGER IF EXISTS " + d.quote(name) + " ON " + watched,
			"CREATE TRIGGER " + d.quote(name) + " AFTER " + ev + " ON " + watched +
				" REFERENCING " + refs + " FOR EACH STATEMENT EXECUTE FUNCTION " + fn + "()",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return s.db.errorf(err, "capture on %s: create trigger %s on %s", s.db.where, name, c.Table)
			}
		}
		rep.add("%s trigger %s on %s.%s (after %s)", createdOrReplaced(existed), name, wSchema, wTable, captureEvents[i])
	}
	if err := tx.Commit(); err != nil {
		return s.db.errorf(err, "capture on %s: commit", s.db.where)
	}
	return nil
}

// rolledBack replaces the report of a failed transaction: none of its
// lines happened.
func rolledBack(rep *report, err *error) {
	if *err != nil && len(rep.lines) > 0 {
		rep.lines = []string{"nothing was changed (the transaction was rolled back)"}
	}
}

func createdOrReplaced(existed bool) string {
	if existed {
		return "replaced"
	}
	return "created"
}

// pgFunction is the function of the three statement-level triggers: one
// INSERT ... SELECT per statement from its transition tables, however many
// rows it changed (a row trigger costs several times more on bulk
// writes). The new rows are aliased NEW, so when: reads as in a row
// trigger; use_column makes NEW and OLD there the aliases, not PL/pgSQL's
// (NULL) row variables. An update that changes a key writes a delete of
// the old key. Rows whose key is NULL are not captured.
func pgFunction(fn, integ, key, when, channel string) string {
	cond := "TRUE"
	if strings.TrimSpace(when) != "" {
		cond = "(" + when + ")"
	}
	ins := "INSERT INTO " + integ + " (key, op) SELECT "
	// count adds the rows the last INSERT wrote, so only a statement
	// that captured something notifies.
	const count = `
    GET DIAGNOSTICS n = ROW_COUNT; captured := captured + n;`
	// SECURITY DEFINER: the triggers run in the application's sessions,
	// whose user may write the watched table but not the integration
	// table; the function writes it with the rights of its owner (who
	// installed it). Its search_path is the one install checked when:
	// with, not the application's.
	return "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql" +
		" SECURITY DEFINER SET search_path FROM CURRENT AS " + pgBodyTag + `
#variable_conflict use_column
DECLARE
  n bigint;
  captured bigint := 0;
BEGIN
  IF TG_OP = 'INSERT' THEN
    ` + ins + `NEW.` + key + `::text, 'I' FROM ferry_new AS NEW WHERE NEW.` + key + ` IS NOT NULL AND ` + cond + `;` + count + `
  ELSIF TG_OP = 'UPDATE' THEN
    ` + ins + `OLD.` + key + `::text, 'D' FROM ferry_old AS OLD WHERE OLD.` + key + ` IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM ferry_new AS k WHERE k.` + key + ` = OLD.` + key + `);` + count + `
    ` + ins + `NEW.` + key + `::text, 'U' FROM ferry_new AS NEW WHERE NEW.` + key + ` IS NOT NULL AND ` + cond + `;` + count + `
  ELSE
    ` + ins + `OLD.` + key + `::text, 'D' FROM ferry_old AS OLD WHERE OLD.` + key + ` IS NOT NULL;` + count + `
  END IF;
  IF captured > 0 THEN
    PERFORM pg_notify('` + channel + `', '');
  END IF;
  RETURN NULL;
END
` + pgBodyTag
}

// pgTriggerExists reports whether table has a trigger of that name.
func pgTriggerExists(ctx context.Context, q querier, table, name string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)",
		table, name).Scan(&ok)
	return ok, err
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

func (s *Source) uninstallPostgres(ctx context.Context, n captureNames, dropTable bool, rep *report) (err error) {
	defer rolledBack(rep, &err)
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
		for i, name := range n.triggers {
			existed, err := pgTriggerExists(ctx, tx, watched, name)
			if err != nil {
				return s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, name)
			}
			if !existed {
				rep.add("no trigger %s on %s.%s: nothing to remove", name, wSchema, wTable)
				continue
			}
			if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+d.quote(name)+" ON "+watched); err != nil {
				return s.db.errorf(err, "capture on %s: drop trigger %s", s.db.where, name)
			}
			rep.add("removed trigger %s on %s.%s (after %s)", name, wSchema, wTable, captureEvents[i])
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
		return s.db.errorf(err, "capture on %s: commit", s.db.where)
	}
	return nil
}
