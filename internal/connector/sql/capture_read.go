package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
)

// change is one row of an integration table.
type change struct {
	id  int64
	key string
	op  string // I, U or D
}

// ackChunk is how many integration rows one DELETE of an Ack names.
const ackChunk = 1000

// readChanges is Read for a source with capture: it reads the integration
// table in id order, a page at a time; per page it collapses the changes
// by key (the last one wins) and fetches the current rows of those keys
// from the source view. A key whose row is gone is a delete when its last
// change is one, and is skipped otherwise (it was deleted or left the
// view after the change: a later delete follows, or the route's view no
// longer wants it). Page.Ack deletes exactly the integration rows the
// page was made of, by id: a change captured meanwhile (a higher id, or a
// lower one committed late) stays for the next read.
func (s *Source) readChanges(ctx context.Context, fn func(context.Context, connector.Page) error) error {
	c, err := s.captureConfig()
	if err != nil {
		return err
	}
	if s.cfg.Cursor != "" {
		return fmt.Errorf("sql source on %s: capture and cursor exclude each other (the integration table says what changed)", s.db.where)
	}
	cols, keyI, _, err := s.describe(ctx)
	if err != nil {
		return err
	}
	d := s.db.dialect
	integ := d.quoteTable(c.IntegrationTable)
	q := "SELECT " + d.quote("id") + ", " + d.quote("key") + ", " + d.quote("op") + " FROM " + integ +
		" WHERE " + d.quote("id") + " > " + d.ph(1) + " ORDER BY " + d.quote("id") + " LIMIT " + fmt.Sprint(s.cfg.PageSize)
	var after int64
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		changes, err := s.readIntegration(ctx, c, q, after, page)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		records, err := s.currentRecords(ctx, cols, keyI, changes, page)
		if err != nil {
			return err
		}
		ids := make([]int64, len(changes))
		for i, ch := range changes {
			ids[i] = ch.id
		}
		first, last := ids[0], ids[len(ids)-1]
		err = fn(ctx, connector.Page{
			Number:  page,
			URL:     fmt.Sprintf("%s integration table %s, changes %d to %d", s.db.where, c.IntegrationTable, first, last),
			Records: records,
			Ack:     func(ctx context.Context) error { return s.clearChanges(ctx, c, ids) },
		})
		if errors.Is(err, connector.ErrStop) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(changes) < s.cfg.PageSize {
			return nil
		}
		after = last
	}
}

// readIntegration reads one page of changes after id.
func (s *Source) readIntegration(ctx context.Context, c *CaptureConfig, q string, after int64, page int) ([]change, error) {
	rows, err := s.db.query(ctx, q, after)
	if err != nil {
		err = s.db.errorf(err, "%s: read integration table %s, page %d", s.db.where, c.IntegrationTable, page)
		if ok, _ := s.integrationExists(ctx, c); !ok && ctx.Err() == nil {
			return nil, fmt.Errorf("%w (the table does not exist: run `ferry capture install %s`)", err, c.route)
		}
		return nil, err
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var ch change
		var key, op []byte
		if err := rows.Scan(&ch.id, &key, &op); err != nil {
			return nil, s.db.errorf(err, "%s: integration table %s, page %d, row %d", s.db.where, c.IntegrationTable, page, len(out)+1)
		}
		ch.key, ch.op = string(key), strings.ToUpper(strings.TrimSpace(string(op)))
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.errorf(err, "%s: read integration table %s, page %d", s.db.where, c.IntegrationTable, page)
	}
	return out, nil
}

// integrationExists reports whether the integration table exists.
func (s *Source) integrationExists(ctx context.Context, c *CaptureConfig) (bool, error) {
	switch s.db.dialect.name {
	case "postgres":
		_, _, ok, err := s.pgQualified(ctx, s.db.pool, c.IntegrationTable)
		return ok, err
	case "mysql":
		schema, table, err := s.mysqlSchema(ctx, c.IntegrationTable)
		if err != nil {
			return false, err
		}
		return s.mysqlTableExists(ctx, schema, table)
	}
	return false, nil
}

// currentRecords turns a page of changes into records: one per key, in
// the order of each key's last change.
func (s *Source) currentRecords(ctx context.Context, cols []column, keyI int, changes []change, page int) ([]connector.SourceRecord, error) {
	last := make(map[string]int, len(changes)) // key -> index of its last change
	for i, ch := range changes {
		last[ch.key] = i
	}
	keys := make([]string, 0, len(last))
	for i, ch := range changes {
		if last[ch.key] == i {
			keys = append(keys, ch.key)
		}
	}
	rows, err := s.fetchRows(ctx, cols, keyI, keys, page)
	if err != nil {
		return nil, err
	}
	out := make([]connector.SourceRecord, 0, len(keys))
	for _, k := range keys {
		if data, ok := rows[k]; ok {
			out = append(out, connector.SourceRecord{Key: k, Data: data})
			continue
		}
		if changes[last[k]].op == "D" {
			out = append(out, connector.SourceRecord{Key: k, Deleted: true,
				Data: map[string]any{cols[keyI].name: keyValue(s.db.dialect, &cols[keyI], k)}})
		}
		// Otherwise the row left the view after its change: pruned.
	}
	return out, nil
}

// keyValue is a deleted record's key as its JSON value: a number for an
// integer key column, the text otherwise.
func keyValue(d dialect, col *column, k string) any {
	if col.kind == kInt {
		if i, ok := fromText(d, col, k).(int64); ok {
			return intValue(i)
		}
	}
	return k
}

// fetchRows reads the current rows of keys from the source view, by key.
func (s *Source) fetchRows(ctx context.Context, cols []column, keyI int, keys []string, page int) (map[string]map[string]any, error) {
	d := s.db.dialect
	numbers := s.cfg.Decimals == "number"
	out := make(map[string]map[string]any, len(keys))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols)+1)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// Rows are matched to their changes by the key as the trigger wrote
	// it (the same cast to text), not as the driver spells the value: a
	// char(n), date, float or unsigned key reads back differently, and
	// its changes would be taken for rows gone from the view.
	var keyText sql.NullString
	ptrs[len(cols)] = &keyText
	kc := "q." + d.quote(cols[keyI].name)
	keyCast := keyTextCast(d, kc)
	for start := 0; start < len(keys); start += existingChunk {
		var args []any
		var ph []string
		for _, k := range keys[start:min(start+existingChunk, len(keys))] {
			v := fromText(d, &cols[keyI], k)
			if cols[keyI].kind == kInt {
				if _, isInt := v.(int64); !isInt {
					if !allDigits(k) {
						continue // no integer column holds it
					}
					v = k // beyond int64 (BIGINT UNSIGNED): the database compares the text
				}
			}
			args = append(args, v)
			ph = append(ph, d.ph(len(args)))
		}
		if len(args) == 0 {
			continue
		}
		q := "SELECT q.*, " + keyCast + " FROM (" + s.query + ") q WHERE " + kc + " IN (" + strings.Join(ph, ", ") + ")"
		where := fmt.Sprintf("%s: page %d: current rows of the changed keys", s.db.where, page)
		rows, err := s.db.query(ctx, q, args...)
		if err != nil {
			return nil, s.db.errorf(err, "%s", where)
		}
		for rows.Next() {
			for i := range vals {
				vals[i] = nil
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, s.db.errorf(err, "%s", where)
			}
			data := make(map[string]any, len(cols))
			for i := range cols {
				v, err := decode(&cols[i], vals[i], numbers)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("%s: row of key %s: %w", where, rawText(vals[keyI]), err)
				}
				data[cols[i].name] = v
			}
			out[keyText.String] = data
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.db.errorf(err, "%s", where)
		}
	}
	return out, nil
}

// clearChanges deletes exactly the integration rows of one page, by id,
// in one transaction.
func (s *Source) clearChanges(ctx context.Context, c *CaptureConfig, ids []int64) error {
	d := s.db.dialect
	tx, err := s.db.pool.BeginTx(ctx, nil)
	if err != nil {
		return s.db.errorf(err, "%s: clear integration table %s: begin", s.db.where, c.IntegrationTable)
	}
	defer tx.Rollback()
	for start := 0; start < len(ids); start += ackChunk {
		chunk := ids[start:min(start+ackChunk, len(ids))]
		args := make([]any, len(chunk))
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args[i] = id
			ph[i] = d.ph(i + 1)
		}
		q := "DELETE FROM " + d.quoteTable(c.IntegrationTable) + " WHERE " + d.quote("id") + " IN (" + strings.Join(ph, ", ") + ")"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return s.db.errorf(err, "%s: clear integration table %s, changes %d to %d", s.db.where, c.IntegrationTable, chunk[0], chunk[len(chunk)-1])
		}
	}
	if err := tx.Commit(); err != nil {
		return s.db.errorf(err, "%s: clear integration table %s: commit", s.db.where, c.IntegrationTable)
	}
	return nil
}
