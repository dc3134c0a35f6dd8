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

// mysqlTriggerBodies are the bodies of the three triggers (insert,
// update, delete), each writing the changed keys into the integration
// table.
func mysqlTriggerBodies(integ, key, when string) [3]string {
	cond := "TRUE"
	if strings.TrimSpace(when) != "" {
		cond = "(" + when + ")"
	}
	ins := "INSERT INTO " + integ + " (`key`, op) VALUES "
	return [3]string{
		"BEGIN IF NEW." + key + " IS NOT NULL AND " + cond + " THEN " + ins + "(CAST(NEW." + key + " AS CHAR), 'I'); END IF; END",
		"BEGIN IF OLD." + key + " IS NOT NULL AND NOT (OLD." + key + " <=> NEW." + key + ") THEN " + ins + "(CAST(OLD." + key + " AS CHAR), 'D'); END IF; " +
			"IF NEW." + key + " IS NOT NULL AND " + cond + " THEN " + ins + "(CAST(NEW." + key + " AS CHAR), 'U'); END IF; END",
		"BEGIN IF OLD." + key + " IS NOT NULL THEN " + ins + "(CAST(OLD." + key + " AS CHAR), 'D'); END IF; END",
	}
}

// mysqlTrigger is an existing trigger as information_schema shows it.
type mysqlTrigger struct {
	exists             bool
	event, schema, tbl string
	body               string
}

func (s *Source) mysqlTriggerOf(ctx context.Context, schema, name string) (mysqlTrigger, error) {
	var tr mysqlTrigger
	err := s.db.pool.QueryRowContext(ctx, `SELECT EVENT_MANIPULATION, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_STATEMENT
		FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME = ?`, schema, name).
		Scan(&tr.event, &tr.schema, &tr.tbl, &tr.body)
	switch {
	case err == sql.ErrNoRows:
		return tr, nil
	case err != nil:
		return tr, s.db.errorf(err, "capture on %s: look up trigger %s", s.db.where, name)
	}
	tr.exists = true
	return tr, nil
}

// isMariaDB tells MariaDB (CREATE OR REPLACE TRIGGER, atomic) from MySQL
// (drop, then create).
func (s *Source) isMariaDB(ctx context.Context) (bool, error) {
	var v string
	if err := s.db.pool.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return false, s.db.errorf(err, "capture on %s: server version", s.db.where)
	}
	return strings.Contains(strings.ToLower(v), "mariadb"), nil
}

// captureEvents are the events of captureNames.triggers, in order.
var captureEvents = [3]string{"insert", "update", "delete"}

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
	maria, err := s.isMariaDB(ctx)
	if err != nil {
		return err
	}
	bodies := mysqlTriggerBodies(integ, d.quote(c.KeyColumn), c.When)
	for i, body := range bodies {
		name := n.triggers[i]
		cur, err := s.mysqlTriggerOf(ctx, wSchema, name)
		if err != nil {
			return err
		}
		if cur.exists && cur.body == body && strings.EqualFold(cur.event, captureEvents[i]) && cur.schema == wSchema && cur.tbl == wTable {
			// Left alone: no moment without capture, and nothing to do.
			rep.add("trigger %s.%s on %s.%s (after %s) is up to date", wSchema, name, wSchema, wTable, captureEvents[i])
			continue
		}
		qname := d.quote(wSchema) + "." + d.quote(name)
		create := "CREATE TRIGGER " + qname + " AFTER " + strings.ToUpper(captureEvents[i]) + " ON " + watched + " FOR EACH ROW " + body
		stmts := []string{strings.Replace(create, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1)}
		if !maria {
			// MySQL has no CREATE OR REPLACE TRIGGER: writes between
			// the two statements are not captured.
			stmts = []string{"DROP TRIGGER IF EXISTS " + qname, create}
		}
		for _, q := range stmts {
			if _, err := s.db.pool.ExecContext(ctx, q); err != nil {
				return s.db.errorf(err, "capture on %s: create trigger %s on %s", s.db.where, name, c.Table)
			}
		}
		rep.add("%s trigger %s.%s on %s.%s (after %s)", createdOrReplaced(cur.exists), wSchema, name, wSchema, wTable, captureEvents[i])
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
	for i, name := range n.triggers {
		cur, err := s.mysqlTriggerOf(ctx, wSchema, name)
		if err != nil {
			return err
		}
		if !cur.exists {
			rep.add("no trigger %s.%s on %s.%s: nothing to remove", wSchema, name, wSchema, wTable)
			continue
		}
		if _, err := s.db.pool.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+d.quote(wSchema)+"."+d.quote(name)); err != nil {
			return s.db.errorf(err, "capture on %s: drop trigger %s", s.db.where, name)
		}
		rep.add("removed trigger %s.%s on %s.%s (after %s)", wSchema, name, wSchema, wTable, captureEvents[i])
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
