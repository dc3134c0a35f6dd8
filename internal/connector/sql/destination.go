package sqlconn

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// Destination writes a batch in one transaction: upserts into a table
// (multi-row INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE) and
// deletes, or a user's statement per record. A row the database refuses
// is isolated with savepoints (bisecting a multi-row statement) and
// settles alone with the database's message; the other rows are done.
type Destination struct {
	db    *DB
	cfg   DestinationConfig
	keys  []string // key columns (table mode)
	stmt  string   // rendered statement (statement mode)
	order []int    // statement parameter -> index into named.names
	named *named

	noUnnest bool // PostgreSQL: VALUES lists instead of unnest (benchmark comparison)

	// upsertOnly counts down the batches that go straight to the upsert
	// on PostgreSQL (see writer.exec): set after a plain INSERT met an
	// existing row.
	upsertOnly atomic.Int32
	// keyUnique is set once an upsert of this destination succeeded:
	// PostgreSQL accepts ON CONFLICT (key) only with a unique index on
	// exactly the key, and a plain INSERT is tried first only after that
	// proof. Without it, a table with no such index would get a new row
	// for every replay instead of the refusal the upsert gives.
	keyUnique atomic.Bool

	mu     sync.Mutex
	loaded time.Time          // when table was read: it is read again after columnsTTL
	table  map[string]*column // the table's columns by name, learnt at the first Send
	names  []string           // the table's column names, in table order
	// uniques are MySQL unique indexes other than the key (lower-case
	// column names): ON DUPLICATE KEY UPDATE fires on any of them, so a
	// record writing all their columns could overwrite another row.
	uniques map[string][]string
}

var (
	_ connector.Destination        = (*Destination)(nil)
	_ connector.Previewer          = (*Destination)(nil)
	_ connector.OneRequestPerBatch = (*Destination)(nil)
	_ io.Closer                    = (*Destination)(nil)
)

func buildDestination(_ context.Context, env connector.Env, cfg any) (connector.Destination, error) {
	c := *cfg.(*DestinationConfig)
	db, err := system(env, c.System)
	if err != nil {
		return nil, fmt.Errorf("sql destination: %w", err)
	}
	return NewDestination(db, c)
}

// NewDestination builds a destination on db (no query runs before the
// first Send).
func NewDestination(db *DB, c DestinationConfig) (*Destination, error) {
	d := &Destination{db: db, cfg: c}
	switch {
	case c.Statement != "":
		n, err := parseNamed(c.Statement)
		if err != nil {
			return nil, fmt.Errorf("sql destination on %s: %w", db.where, err)
		}
		d.named = n
		d.stmt, d.order = n.render(db.dialect)
	case c.Table != "":
		d.keys = splitKey(c.Key)
		if len(d.keys) == 0 {
			d.keys = []string{"id"}
		}
	default:
		return nil, fmt.Errorf("sql destination on %s: table or statement is required", db.where)
	}
	return d, nil
}

// OneRequestPerBatch: a batch is one transaction.
func (d *Destination) OneRequestPerBatch() bool { return true }

// Close releases nothing of its own: the pool belongs to the system.
func (d *Destination) Close() error { return nil }

// target names where records go, for messages and previews.
func (d *Destination) target() string {
	if d.named != nil {
		return d.db.dialect.name + " statement on system " + d.db.name
	}
	return d.db.dialect.name + " table " + d.cfg.Table
}

// op is one record ready to write.
type op struct {
	i      int // index in the batch
	del    bool
	fields []string // the record's fields in column order (nil: columns: or a delete)
	cols   []string // upsert columns (delete: the key columns)
	args   []any
	sig    string // cols joined: ops with one signature share a statement
}

// columnsTTL is how long the table's columns are trusted: a column added
// while ferry runs is written after at most this long.
const columnsTTL = time.Minute

// columns learns the table's columns (again after columnsTTL).
func (d *Destination) columns(ctx context.Context) (map[string]*column, []string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.table != nil && time.Since(d.loaded) < columnsTTL {
		return d.table, d.names, nil
	}
	rows, err := d.db.query(ctx, "SELECT * FROM "+d.db.dialect.quoteTable(d.cfg.Table)+" WHERE 1=0")
	if err != nil {
		return nil, nil, d.db.errorf(err, "%s: read the columns of %s", d.db.where, d.cfg.Table)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, d.db.errorf(err, "%s: read the columns of %s", d.db.where, d.cfg.Table)
	}
	cols := columnsOf(d.db.dialect, cts, nil)
	table := make(map[string]*column, len(cols))
	names := make([]string, len(cols))
	for i := range cols {
		table[cols[i].name] = &cols[i]
		names[i] = cols[i].name
	}
	for _, k := range d.keys {
		if resolveColumn(table, k) == nil {
			return nil, nil, fmt.Errorf("%s: table %s has no key column %q (its columns: %s)", d.db.where, d.cfg.Table, k, strings.Join(names, ", "))
		}
	}
	if d.db.dialect.name == "mysql" {
		if d.uniques, err = d.otherUniques(ctx); err != nil {
			return nil, nil, err
		}
	}
	d.table, d.names, d.loaded = table, names, time.Now()
	return table, names, nil
}

// otherUniques lists the table's unique indexes whose columns are not
// exactly the key columns (MySQL/MariaDB).
func (d *Destination) otherUniques(ctx context.Context) (map[string][]string, error) {
	schema, table := "", d.cfg.Table
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		schema, table = table[:i], table[i+1:]
	}
	q := `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = COALESCE(NULLIF(?, ''), DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME, SEQ_IN_INDEX`
	rows, err := d.db.query(ctx, q, schema, table)
	if err != nil {
		return nil, d.db.errorf(err, "%s: read the unique indexes of %s", d.db.where, d.cfg.Table)
	}
	defer rows.Close()
	idx := map[string][]string{}
	for rows.Next() {
		var name, col string
		if err := rows.Scan(&name, &col); err != nil {
			return nil, d.db.errorf(err, "%s: read the unique indexes of %s", d.db.where, d.cfg.Table)
		}
		idx[name] = append(idx[name], strings.ToLower(col))
	}
	if err := rows.Err(); err != nil {
		return nil, d.db.errorf(err, "%s: read the unique indexes of %s", d.db.where, d.cfg.Table)
	}
	keys := make([]string, len(d.keys))
	for i, k := range d.keys {
		keys[i] = strings.ToLower(k)
	}
	sort.Strings(keys)
	for name, cols := range idx {
		sorted := append([]string(nil), cols...)
		sort.Strings(sorted)
		if strings.Join(sorted, ",") == strings.Join(keys, ",") {
			delete(idx, name)
		}
	}
	return idx, nil
}

// uniqueClashes finds the ops that would overwrite another row through
// a unique index other than the key (MySQL's ON DUPLICATE KEY UPDATE
// fires on any unique index): those that write every column of such an
// index with values another key's row already holds. It returns a reason
// per batch index. One query per batch and index, only on MySQL tables
// with such an index; a row committed by another writer between the
// check and the upsert can still clash (the window is the batch's).
func (d *Destination) uniqueClashes(ctx context.Context, ops []*op) (map[int]string, error) {
	if len(d.uniques) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(d.uniques))
	for name := range d.uniques {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[int]string{}
	q := d.db.dialect.quote
	for _, name := range names {
		ucols := d.uniques[name]
		type probe struct {
			o       *op
			uvals   []any
			key     string
			uniqKey string
		}
		var probes []probe
		for _, o := range ops {
			if o.del {
				continue
			}
			vals := make([]any, 0, len(ucols))
			key := ""
			for _, uc := range ucols {
				for ci, c := range o.cols {
					if strings.EqualFold(c, uc) {
						vals = append(vals, o.args[ci])
					}
				}
			}
			if len(vals) != len(ucols) {
				continue // the record does not write all of the index
			}
			for _, k := range d.keys {
				for ci, c := range o.cols {
					if strings.EqualFold(c, k) {
						key += "\x00" + strings.ToLower(rawText(o.args[ci]))
					}
				}
			}
			uk := ""
			for _, v := range vals {
				uk += "\x00" + strings.ToLower(rawText(v))
			}
			probes = append(probes, probe{o, vals, key, uk})
		}
		for start := 0; start < len(probes); start += 200 {
			chunk := probes[start:min(start+200, len(probes))]
			var sel []string
			for _, c := range ucols {
				sel = append(sel, q(c))
			}
			tuple := "(" + strings.Repeat("?,", len(ucols)-1) + "?)"
			var args []any
			var tuples []string
			for _, p := range chunk {
				args = append(args, p.uvals...)
				tuples = append(tuples, tuple)
			}
			keySel := make([]string, len(d.keys))
			for i, k := range d.keys {
				keySel[i] = q(k)
			}
			query := "SELECT " + strings.Join(sel, ", ") + ", " + strings.Join(keySel, ", ") + " FROM " + d.db.dialect.quoteTable(d.cfg.Table) +
				" WHERE (" + strings.Join(sel, ", ") + ") IN (" + strings.Join(tuples, ", ") + ")"
			rows, err := d.db.query(ctx, query, args...)
			if err != nil {
				return nil, d.db.errorf(err, "%s: look up unique index %s of %s", d.db.where, name, d.cfg.Table)
			}
			holder := map[string]string{} // unique values -> key of the row holding them
			vals := make([]any, len(ucols)+len(d.keys))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return nil, d.db.errorf(err, "%s: look up unique index %s of %s", d.db.where, name, d.cfg.Table)
				}
				uk, key := "", ""
				for i := range ucols {
					uk += "\x00" + strings.ToLower(rawText(vals[i]))
				}
				for i := range d.keys {
					key += "\x00" + strings.ToLower(rawText(vals[len(ucols)+i]))
				}
				holder[uk] = key
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, d.db.errorf(err, "%s: look up unique index %s of %s", d.db.where, name, d.cfg.Table)
			}
			for _, p := range chunk {
				if k, ok := holder[p.uniqKey]; ok && k != p.key {
					out[p.o.i] = name + " (" + strings.Join(ucols, ", ") + ")"
				}
			}
		}
	}
	return out, nil
}

// columnNames lists a table's columns, sorted, for messages.
func columnNames(table map[string]*column) []string {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolveColumn finds a column by exact name, else case-insensitively.
func resolveColumn(table map[string]*column, name string) *column {
	if c, ok := table[name]; ok {
		return c
	}
	for n, c := range table {
		if strings.EqualFold(n, name) {
			return c
		}
	}
	return nil
}

// prepare turns one delivery into an op, or the reason it cannot be
// written (a field without a column, a value of the wrong shape).
//
// prev is the record before it: records of one batch mostly have the same
// fields, so its column list and statement signature are reused.
func (d *Destination) prepare(table map[string]*column, i int, dv connector.Delivery, prev *op) (*op, error) {
	o := &op{i: i, del: dv.Deleted}
	rec := dv.Record
	if d.named != nil {
		if dv.Deleted {
			return nil, fmt.Errorf("delete of key %s: a statement destination does not apply deletes (table: deletes the key's row)", dv.Key)
		}
		for _, idx := range d.order {
			v, err := lookup(d.named.names[idx], dv.Key, rec, dv.Vars)
			if err != nil {
				return nil, err
			}
			p, err := param(d.db.dialect, nil, v)
			if err != nil {
				return nil, fmt.Errorf("parameter :%s: %w", d.named.names[idx], err)
			}
			o.args = append(o.args, p)
		}
		return o, nil
	}
	value := func(col string) (any, bool) {
		if v, ok := rec[col]; ok {
			return v, true
		}
		if len(d.keys) == 1 && col == d.keys[0] && dv.Key != "" {
			return dv.Key, true // the record key fills its column when the record lacks it
		}
		return nil, false
	}
	var cols []string
	switch {
	case dv.Deleted:
		cols = d.keys
	case len(d.cfg.Columns) > 0:
		cols = d.cfg.Columns
	case prev != nil && !prev.del && prev.fields != nil && sameFields(rec, prev.fields, d.keys):
		return d.fill(o, table, prev.fields, prev, value)
	default:
		cols = make([]string, 0, len(rec)+1)
		for f := range rec {
			cols = append(cols, f)
		}
		if len(d.keys) == 1 {
			if _, ok := rec[d.keys[0]]; !ok {
				cols = append(cols, d.keys[0])
			}
		}
		sort.Strings(cols)
		o.fields = cols
	}
	return d.fill(o, table, cols, nil, value)
}

// sameFields reports whether rec has exactly fields (the single key
// column may be missing: the record key fills it).
func sameFields(rec map[string]any, fields []string, keys []string) bool {
	n := 0
	for _, f := range fields {
		if _, ok := rec[f]; ok {
			n++
		} else if len(keys) != 1 || f != keys[0] {
			return false
		}
	}
	return n == len(rec)
}

// fill resolves cols to the table's columns and converts their values;
// like is an op with the same fields whose columns and signature it takes.
func (d *Destination) fill(o *op, table map[string]*column, cols []string, like *op, value func(string) (any, bool)) (*op, error) {
	o.args = make([]any, 0, len(cols))
	if like != nil {
		o.fields, o.cols, o.sig = like.fields, like.cols, like.sig
	}
	for _, name := range cols {
		c := resolveColumn(table, name)
		if c == nil {
			return nil, fmt.Errorf("field %q has no column in table %s (its columns: %s)", name, d.cfg.Table, strings.Join(columnNames(table), ", "))
		}
		v, ok := value(name)
		if !ok && slices.Contains(d.keys, name) {
			return nil, fmt.Errorf("the record has no value for the key column %q", name)
		}
		p, err := param(d.db.dialect, c, v)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		if like == nil {
			o.cols = append(o.cols, c.name)
		}
		o.args = append(o.args, p)
	}
	if like != nil {
		return o, nil
	}
	o.sig = strings.Join(o.cols, "\x00")
	if o.del {
		o.sig = "\x01delete"
	}
	return o, nil
}

// Send writes the batch in one transaction and settles each record.
func (d *Destination) Send(ctx context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	start := time.Now()
	results := make([]connector.Result, len(batch))
	fail := func(i int, err error, retryable bool) {
		results[i] = connector.Result{Retryable: retryable, Error: d.db.message(err)}
	}
	failAll := func(err error) ([]connector.Result, error) {
		for i := range results {
			if results[i].Error == "" {
				fail(i, err, isRetryable(err))
			}
			results[i].OK = false
			results[i].Duration = time.Since(start)
		}
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		return results, nil
	}
	var table map[string]*column
	if d.named == nil {
		var err error
		if table, _, err = d.columns(ctx); err != nil {
			return failAll(err)
		}
	}
	var ops []*op
	var prev *op
	for i, dv := range batch {
		if d.named == nil && dv.Deleted && len(d.keys) > 1 && !hasAll(dv.Record, d.keys) {
			fail(i, fmt.Errorf("delete of %s: the record lacks a key column (%s)", dv.Key, strings.Join(d.keys, ", ")), false)
			continue
		}
		o, err := d.prepare(table, i, dv, prev)
		if err != nil {
			fail(i, fmt.Errorf("%s: %w", d.target(), err), false)
			continue
		}
		ops = append(ops, o)
		prev = o
	}
	if d.named == nil && len(d.uniques) > 0 {
		clashes, err := d.uniqueClashes(ctx, ops)
		if err != nil {
			return failAll(err)
		}
		kept := ops[:0]
		for _, o := range ops {
			if u, ok := clashes[o.i]; ok {
				fail(o.i, fmt.Errorf("%s: another row already holds this record's values of the unique index %s: MySQL's ON DUPLICATE KEY UPDATE would update that row instead of the row of key %s", d.target(), u, batch[o.i].Key), false)
				continue
			}
			kept = append(kept, o)
		}
		ops = kept
	}
	chunks := d.chunks(ops)
	alone := false // the batch was written by one statement alone
	if len(chunks) == 1 && d.named == nil && d.db.dialect.name == "postgres" {
		var err error
		if alone, err = d.execAlone(ctx, table, chunks[0]); err != nil {
			res, ctxErr := failAll(err)
			if !serverRefused(err) {
				// Not the server's refusal (a dropped connection, a
				// cancel): the statement may have committed.
				for i := range res {
					if res[i].Retryable {
						res[i].Unknown = true
					}
				}
			}
			return res, ctxErr
		}
	}
	if alone {
		for _, o := range ops {
			results[o.i] = connector.Result{OK: true}
		}
	} else if len(ops) > 0 {
		tx, err := d.db.pool.BeginTx(ctx, nil)
		if err != nil {
			return failAll(d.db.errorf(err, "%s: begin", d.db.where))
		}
		w := &writer{d: d, tx: tx, savepoint: true, table: table, failed: map[int]error{}}
		for _, chunk := range chunks {
			if err := w.isolate(ctx, chunk); err != nil {
				_ = tx.Rollback()
				return failAll(err)
			}
		}
		if err := tx.Commit(); err != nil {
			// The commit may or may not have been applied.
			res, ctxErr := failAll(d.db.errorf(err, "%s: commit", d.db.where))
			for i := range res {
				if res[i].Retryable {
					res[i].Unknown = true
				}
			}
			return res, ctxErr
		}
		for _, o := range ops {
			if err, bad := w.failed[o.i]; bad {
				fail(o.i, err, false)
				continue
			}
			results[o.i] = connector.Result{OK: true}
		}
	}
	for i := range results {
		results[i].Duration = time.Since(start)
		if !results[i].OK {
			results[i].Request = d.excerpt(batch[i])
		}
	}
	return results, nil
}

func hasAll(rec map[string]any, keys []string) bool {
	for _, k := range keys {
		if _, ok := rec[k]; !ok {
			return false
		}
	}
	return true
}

// excerpt is what was written for a failed record, for its attempt.
func (d *Destination) excerpt(dv connector.Delivery) string {
	b, err := jsonx.Marshal(dv.Record)
	if err != nil {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[:max]
	}
	return d.db.red.String(string(b))
}

// chunks groups consecutive ops that share one statement: the same
// columns (or all deletes), no key twice (a statement cannot upsert one
// row twice), and within the database's parameter limit. Statement mode
// is one chunk: its statements run one by one anyway.
func (d *Destination) chunks(ops []*op) [][]*op {
	if d.named != nil {
		return [][]*op{ops}
	}
	var out [][]*op
	var cur []*op
	params := 0
	seen := map[string]bool{}
	for _, o := range ops {
		k := keyOf(o, d.keys)
		if len(cur) > 0 && (cur[0].sig != o.sig || seen[k] || params+len(o.args) > d.db.dialect.maxParams) {
			out = append(out, cur)
			cur, params, seen = nil, 0, map[string]bool{}
		}
		cur = append(cur, o)
		params += len(o.args)
		seen[k] = true
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// keyOf is an op's key values as one string.
func keyOf(o *op, keys []string) string {
	var b strings.Builder
	for i, c := range o.cols {
		if isKeyColumn(keys, c) {
			if t, ok := pgText(o.args[i]); ok {
				b.WriteString(t)
			}
			b.WriteByte(0)
		}
	}
	return b.String()
}

// isKeyColumn reports whether the table column c is one of the key
// columns as written in the config (which may differ in case).
func isKeyColumn(keys []string, c string) bool {
	for _, k := range keys {
		if strings.EqualFold(k, c) {
			return true
		}
	}
	return false
}

// execAlone writes a batch of one chunk (PostgreSQL, table mode) with
// one statement outside a transaction, which is atomic by itself: one
// round trip instead of five (BEGIN, SAVEPOINT, the statement, RELEASE,
// COMMIT), and no subtransaction on the server. It reports whether the
// statement was applied; when the database refused a row it returns
// false and no error, and the batch is written again in a transaction
// that isolates the row. A retryable error is returned.
func (d *Destination) execAlone(ctx context.Context, table map[string]*column, ops []*op) (bool, error) {
	w := &writer{d: d, tx: d.db.pool, table: table}
	if _, err := w.exec(ctx, ops); err != nil {
		if isRetryable(err) {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// execer runs a statement: the batch's transaction or the pool.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writer runs one batch's statements in its transaction.
type writer struct {
	d         *Destination
	tx        execer
	savepoint bool               // statements run inside apply's savepoint
	table     map[string]*column // the table's columns (nil in statement mode)
	failed    map[int]error      // batch index -> the database's refusal
}

// isolate applies ops inside a savepoint. When the database refuses a
// row, it rolls back to the savepoint and finds the row: the statement
// that failed (statement mode) or by bisection (multi-row statements);
// the row settles as error and the others are applied again. A
// connection error, deadlock or timeout is returned: it ends the batch.
func (w *writer) isolate(ctx context.Context, ops []*op) error {
	for len(ops) > 0 {
		bad, err := w.apply(ctx, ops)
		if err == nil {
			return nil
		}
		if isRetryable(err) {
			return err
		}
		switch {
		case len(ops) == 1:
			w.failed[ops[0].i] = err
			return nil
		case bad >= 0: // statement mode: ops[:bad] were fine
			if bad > 0 {
				if err := w.isolate(ctx, ops[:bad]); err != nil {
					return err
				}
			}
			w.failed[ops[bad].i] = err
			ops = ops[bad+1:]
		default:
			mid := len(ops) / 2
			if err := w.isolate(ctx, ops[:mid]); err != nil {
				return err
			}
			ops = ops[mid:]
		}
	}
	return nil
}

// apply runs ops in a savepoint; on failure it rolls back to it and says
// which op failed (-1 when one statement carried them all).
func (w *writer) apply(ctx context.Context, ops []*op) (int, error) {
	d := w.d
	if _, err := w.tx.ExecContext(ctx, "SAVEPOINT ferry_batch"); err != nil {
		return -1, retryableErr(d.db.errorf(err, "%s: savepoint", d.db.where))
	}
	bad, err := w.exec(ctx, ops)
	if err != nil {
		if isRetryable(err) {
			// A deadlock or lock timeout may have rolled back the whole
			// transaction (InnoDB does), not just the savepoint: nothing
			// of the batch can be trusted, so it ends here, retryable.
			return bad, err
		}
		if _, rerr := w.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ferry_batch"); rerr != nil {
			// The savepoint is gone: the transaction was rolled back
			// under us, and earlier chunks with it. Never go on (in
			// autocommit) as if they were applied.
			return -1, retryableErr(d.db.errorf(rerr, "%s: rollback to savepoint after %v", d.db.where, d.db.message(err)))
		}
		return bad, err
	}
	if _, err := w.tx.ExecContext(ctx, "RELEASE SAVEPOINT ferry_batch"); err != nil {
		return -1, retryableErr(d.db.errorf(err, "%s: release savepoint", d.db.where))
	}
	return -1, nil
}

// retryableErr marks err retryable: the batch's transaction is in doubt,
// so the whole batch is sent again (the upsert makes that harmless).
func retryableErr(err error) error {
	var de *dbError
	if errors.As(err, &de) {
		c := *de
		c.retryable = true
		return &c
	}
	return err
}

func (w *writer) exec(ctx context.Context, ops []*op) (int, error) {
	d := w.d
	if d.named != nil {
		for j, o := range ops {
			if _, err := w.tx.ExecContext(ctx, d.stmt, o.args...); err != nil {
				return j, d.db.errorf(err, "%s", d.target())
			}
		}
		return -1, nil
	}
	if d.insertFirst(ops) {
		// PostgreSQL: rows that do not exist yet (an initial load, new
		// orders) are written by a plain INSERT, which costs the server
		// about a third less than INSERT ... ON CONFLICT's speculative
		// insertion. If a row exists, the INSERT fails as a whole on
		// its key, is rolled back to the savepoint, and the upsert runs;
		// the next upsertSkip batches then go straight to the upsert.
		// (Outside a transaction the failed statement undid itself.)
		q, args := d.statement(w.table, ops, false)
		_, err := w.tx.ExecContext(ctx, q, args...)
		if err == nil {
			return -1, nil
		}
		if !keyExists(err) {
			return -1, d.db.errorf(err, "%s", d.target())
		}
		d.upsertOnly.Store(upsertSkip)
		if w.savepoint {
			if _, err := w.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ferry_batch"); err != nil {
				return -1, retryableErr(d.db.errorf(err, "%s: rollback to savepoint", d.db.where))
			}
		}
	}
	q, args := d.statement(w.table, ops, true)
	if _, err := w.tx.ExecContext(ctx, q, args...); err != nil {
		return -1, d.db.errorf(err, "%s", d.target())
	}
	d.keyUnique.Store(true)
	return -1, nil
}

// upsertSkip is how many batches go straight to the upsert after a plain
// INSERT met an existing row: a table being updated does not pay for a
// failed INSERT on every batch, and one being loaded is tried again soon.
const upsertSkip = 64

// insertFirst tells whether ops (one chunk of upserts) are tried as a
// plain INSERT first: on PostgreSQL, once an upsert proved the key
// unique, unless a recent batch met rows that existed.
func (d *Destination) insertFirst(ops []*op) bool {
	if d.db.dialect.name != "postgres" || ops[0].del || !d.keyUnique.Load() {
		return false
	}
	if d.upsertOnly.Load() > 0 {
		d.upsertOnly.Add(-1)
		return false
	}
	return true
}

// serverRefused tells an error the PostgreSQL server answered (the
// statement did not commit) from one without an answer. dbError hides
// its original from errors.As (its text is not redacted): look inside.
func serverRefused(err error) bool {
	var de *dbError
	if errors.As(err, &de) {
		err = de.inner
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// keyExists tells PostgreSQL's unique violation (SQLSTATE 23505).
func keyExists(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// statement builds the one statement of a chunk: a multi-row upsert (a
// plain INSERT without upsert) or a delete of its keys.
func (d *Destination) statement(tableCols map[string]*column, ops []*op, upsert bool) (string, []any) {
	dl := d.db.dialect
	var b strings.Builder
	var args []any
	n := 0
	next := func() string { n++; return dl.ph(n) }
	table := dl.quoteTable(d.cfg.Table)
	if ops[0].del {
		b.WriteString("DELETE FROM " + table + " WHERE ")
		for i, o := range ops {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(")
			for j, c := range o.cols {
				if j > 0 {
					b.WriteString(" AND ")
				}
				b.WriteString(dl.quote(c) + " = " + next())
			}
			b.WriteString(")")
			args = append(args, o.args...)
		}
		return b.String(), args
	}
	cols := ops[0].cols
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = dl.quote(c)
	}
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(quoted, ", ") + ") ")
	if casts, ok := d.pgCasts(tableCols, cols); ok {
		// PostgreSQL: one text[] parameter per column, unnested and cast
		// to the column's type; far fewer parameters to bind and parse
		// than one per value.
		sel := make([]string, len(cols))
		arrays := make([]string, len(cols))
		for j := range cols {
			sel[j] = "u." + quoted[j] + "::" + casts[j]
			arrays[j] = next() + "::text[]"
			col := textArray{text: make([]textElem, len(ops)), valid: make([]bool, len(ops))}
			for i, o := range ops {
				var t string
				t, col.valid[i] = pgText(o.args[j])
				col.text[i] = textElem(t)
			}
			args = append(args, col)
		}
		b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM unnest(" + strings.Join(arrays, ", ") + ") AS u(" + strings.Join(quoted, ", ") + ")")
	} else {
		b.WriteString("VALUES ")
		for i, o := range ops {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j := range o.args {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(next())
			}
			b.WriteString(")")
			args = append(args, o.args...)
		}
	}
	if !upsert {
		return b.String(), args
	}
	var set []string
	var keyCols []string
	for i, c := range cols {
		if isKeyColumn(d.keys, c) {
			keyCols = append(keyCols, quoted[i])
			continue
		}
		if dl.name == "mysql" {
			set = append(set, quoted[i]+" = VALUES("+quoted[i]+")")
		} else {
			set = append(set, quoted[i]+" = excluded."+quoted[i])
		}
	}
	switch {
	case dl.name == "mysql" && len(set) == 0:
		b.WriteString(" ON DUPLICATE KEY UPDATE " + keyCols[0] + " = " + keyCols[0])
	case dl.name == "mysql":
		b.WriteString(" ON DUPLICATE KEY UPDATE " + strings.Join(set, ", "))
	case len(set) == 0:
		b.WriteString(" ON CONFLICT (" + strings.Join(keyCols, ", ") + ") DO NOTHING")
	default:
		b.WriteString(" ON CONFLICT (" + strings.Join(keyCols, ", ") + ") DO UPDATE SET " + strings.Join(set, ", "))
	}
	return b.String(), args
}

// pgCasts returns the PostgreSQL type name of each column, when every one
// is a type name that can be written in a cast (not an enum or domain
// pgx does not know, which it reports by number).
func (d *Destination) pgCasts(table map[string]*column, cols []string) ([]string, bool) {
	if !d.db.dialect.dollar || d.noUnnest {
		return nil, false
	}
	casts := make([]string, len(cols))
	for i, c := range cols {
		col := table[c]
		if col == nil || col.dbType == "" || !isIdentStart(col.dbType[0]) {
			return nil, false
		}
		for j := 0; j < len(col.dbType); j++ {
			if !isIdentChar(col.dbType[j]) {
				return nil, false
			}
		}
		casts[i] = col.dbType
	}
	return casts, true
}

// textArray is one column's values of an unnest statement, a text[]
// parameter. pgx encodes a []*string by reflection, boxing every element
// on the way (a sixth of the destination's CPU per record); as an
// ArrayGetter of TextValuers pointing into one slice, nothing is
// allocated per value.
type textArray struct {
	text  []textElem
	valid []bool // false: NULL
}

// Dimensions: one dimension, indexed from 1 (pgtype.ArrayGetter).
func (a textArray) Dimensions() []pgtype.ArrayDimension {
	return []pgtype.ArrayDimension{{Length: int32(len(a.text)), LowerBound: 1}}
}

// Index is the i-th element, nil for NULL (pgtype.ArrayGetter).
func (a textArray) Index(i int) any {
	if !a.valid[i] {
		return nil
	}
	return &a.text[i]
}

// IndexType is the elements' type (pgtype.ArrayGetter).
func (a textArray) IndexType() any { return (*textElem)(nil) }

// textElem is an element of a textArray.
type textElem string

// TextValue is the element as pgx encodes text (pgtype.TextValuer).
func (t *textElem) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*t), Valid: true}, nil
}

// pgText is a PostgreSQL parameter as text (false: NULL): param already
// gives text for every PostgreSQL value but bytes and times.
func pgText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return "\\x" + hex.EncodeToString(x), true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	}
	return fmt.Sprint(v), true
}

// Preview renders what Send would write for one record: the row (or the
// statement's parameters) as JSON, without touching the database beyond
// learning the table's columns.
func (d *Destination) Preview(ctx context.Context, dv connector.Delivery) (connector.Preview, error) {
	p := connector.Preview{URL: d.target()}
	if d.named != nil {
		p.Method = "EXEC"
		params := map[string]any{}
		for _, name := range d.named.names {
			v, err := lookup(name, dv.Key, dv.Record, dv.Vars)
			if err != nil {
				return p, err
			}
			params[name] = v
		}
		body, err := jsonx.Marshal(params)
		p.Body = body
		return p, err
	}
	p.Method = "UPSERT"
	if dv.Deleted {
		p.Method = "DELETE"
	}
	table, _, err := d.columns(ctx)
	if err != nil {
		// Without the database a preview still shows the record.
		body, jerr := jsonx.Marshal(dv.Record)
		p.Body = body
		return p, jerr
	}
	o, err := d.prepare(table, 0, dv, nil)
	if err != nil {
		return p, err
	}
	row := make(map[string]any, len(o.cols))
	for _, c := range o.cols {
		switch v, ok := dv.Record[c]; {
		case ok:
			row[c] = v
		case slices.Contains(d.keys, c):
			row[c] = dv.Key
		default:
			row[c] = nil
		}
	}
	p.Body, err = jsonx.Marshal(row)
	return p, err
}
