package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// mysqlSchema is the schema of a possibly unqualified name: unqualified
// names in a trigger body resolve to the trigger's database, not the
// session's, so everything the triggers name is qualified.
func (s *Source) mysqlSchema(ctx context.Context, name string) (schema, table string, err error) {
	schema, table = splitTable(name)
	if schema != "" {
		return schema, table, nil
	}
	var db sql.NullString
	if err := s.db.pool.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
		return "", "", s.db.errorf(err, "capture on %s: current database", s.db.where)
	}
	if !db.Valid {
		return "", "", fmt.Errorf("capture on %s: %s: the DSN names no database; qualify the table as database.table", s.db.where, name)
	}
	return db.String, table, nil
}

func (s *Source) mysqlTableExists(ctx context.Context, schema, table string) (bool, error) {
	var n int
	err := s.db.pool.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table).Scan(&n)
	if err != nil {
		return false, s.db.errorf(err, "capture on %s: look up table %s.%s", s.db.where, schema, table)
	}
	return n > 0, nil
}

func (s *Source) mysqlTriggerExists(ctx context.Context, schema, name string) (bool, error) {
	var n int
	err := s.db.pool.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME = ?", schema, name).Scan(&n)
	if err != nil {
		return false, s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, name)
	}
	return n > 0, nil
}

// mysqlTriggers are the three trigger statements (insert, update,
// delete), each writing the changed keys into the integration table.
func mysqlTriggers(d dialect, names [3]string, wSchema, watched, integ, key, when string) [3]string {
	cond := "TRUE"
	if strings.TrimSpace(when) != "" {
		cond = "(" + when + ")"
	}
	ins := "INSERT INTO " + integ + " (`key`, op) VALUES "
	head := func(i int, event string) string {
		return "CREATE OR REPLACE TRIGGER " + d.quote(wSchema) + "." + d.quote(names[i]) +
			" AFTER " + event + " ON " + watched + " FOR EACH ROW BEGIN "
	}
	return [3]string{
		head(0, "INSERT") +
			"IF NEW." + key + " IS NOT NULL AND " + cond + " THEN " + ins + "(CAST(NEW." + key + " AS CHAR), 'I'); END IF; END",
		head(1, "UPDATE") +
			"IF OLD." + key + " IS NOT NULL AND NOT (OLD." + key + " <=> NEW." + key + ") THEN " + ins + "(CAST(OLD." + key + " AS CHAR), 'D'); END IF; " +
			"IF NEW." + key + " IS NOT NULL AND " + cond + " THEN " + ins + "(CAST(NEW." + key + " AS CHAR), 'U'); END IF; END",
		head(2, "DELETE") +
			"IF OLD." + key + " IS NOT NULL THEN " + ins + "(CAST(OLD." + key + " AS CHAR), 'D'); END IF; END",
	}
}

var mysqlEvents = [3]string{"insert", "update", "delete"}

// installMySQL: MariaDB's DDL is not transactional, so each step is
// idempotent on its own (CREATE TABLE IF NOT EXISTS, CREATE OR REPLACE
// TRIGGER) and an interrupted install is finished by running it again.
func (s *Source) installMySQL(ctx context.Context, c *CaptureConfig, n captureNames, rep *report) error {
	if err := s.checkWatched(ctx, c); err != nil {
		return err
	}
	d := s.db.dialect
	wSchema, wTable, err := s.mysqlSchema(ctx, c.Table)
	if err != nil {
		return err
	}
	iSchema, iTable, err := s.mysqlSchema(ctx, c.IntegrationTable)
	if err != nil {
		return err
	}
	watched := d.quote(wSchema) + "." + d.quote(wTable)
	integ := d.quote(iSchema) + "." + d.quote(iTable)
	exists, err := s.mysqlTableExists(ctx, iSchema, iTable)
	if err != nil {
		return err
	}
	if exists {
		if err := s.checkIntegrationTable(ctx, s.db.pool, integ); err != nil {
			return err
		}
		rep.add("integration table %s.%s exists, kept", iSchema, iTable)
	} else {
		// InnoDB: the trigger's insert commits or rolls back with the
		// application's write.
		ddl := "CREATE TABLE IF NOT EXISTS " + integ + ` (
			id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			` + "`key`" + ` TEXT NOT NULL,
			op CHAR(1) NOT NULL,
			captured_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
		) ENGINE=InnoDB`
		if _, err := s.db.pool.ExecContext(ctx, ddl); err != nil {
			return s.db.errorf(err, "capture on %s: create integration table %s", s.db.where, c.IntegrationTable)
		}
		rep.add("created integration table %s.%s", iSchema, iTable)
	}
	stmts := mysqlTriggers(d, n.mysqlTrig, wSchema, watched, integ, d.quote(c.KeyColumn), c.When)
	for i, q := range stmts {
		existed, err := s.mysqlTriggerExists(ctx, wSchema, n.mysqlTrig[i])
		if err != nil {
			return err
		}
		if _, err := s.db.pool.ExecContext(ctx, q); err != nil {
			return s.db.errorf(err, "capture on %s: create trigger %s on %s", s.db.where, n.mysqlTrig[i], c.Table)
		}
		rep.add("%s trigger %s.%s on %s.%s (after %s)", createdOrReplaced(existed), wSchema, n.mysqlTrig[i], wSchema, wTable, mysqlEvents[i])
	}
	return nil
}

func (s *Source) uninstallMySQL(ctx context.Context, n captureNames, dropTable bool, rep *report) error {
	d := s.db.dialect
	wSchema, wTable, err := s.mysqlSchema(ctx, n.watched)
	if err != nil {
		return err
	}
	iSchema, iTable, err := s.mysqlSchema(ctx, n.integration)
	if err != nil {
		return err
	}
	for i, name := range n.mysqlTrig {
		existed, err := s.mysqlTriggerExists(ctx, wSchema, name)
		if err != nil {
			return err
		}
		if !existed {
			rep.add("no trigger %s.%s on %s.%s: nothing to remove", wSchema, name, wSchema, wTable)
			continue
		}
		if _, err := s.db.pool.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+d.quote(wSchema)+"."+d.quote(name)); err != nil {
			return s.db.errorf(err, "capture on %s: drop trigger %s", s.db.where, name)
		}
		rep.add("removed trigger %s.%s on %s.%s (after %s)", wSchema, name, wSchema, wTable, mysqlEvents[i])
	}
	exists, err := s.mysqlTableExists(ctx, iSchema, iTable)
	if err != nil {
		return err
	}
	switch {
	case !exists:
		rep.add("no integration table %s.%s", iSchema, iTable)
	case dropTable:
		if _, err := s.db.pool.ExecContext(ctx, "DROP TABLE IF EXISTS "+d.quote(iSchema)+"."+d.quote(iTable)); err != nil {
			return s.db.errorf(err, "capture on %s: drop integration table %s", s.db.where, n.integration)
		}
		rep.add("dropped integration table %s.%s", iSchema, iTable)
	default:
		rep.add("kept integration table %s.%s%s (--drop-table removes it)", iSchema, iTable, s.pendingNote(ctx, n.integration))
	}
	return nil
}
