package sqlconn

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Operation runs a statement with named parameters for one record (after:
// and on_error:), in its own implicit transaction.
type Operation struct {
	db    *DB
	named *named
	stmt  string
	order []int
}

var _ connector.Operation = (*Operation)(nil)

func buildOperation(_ context.Context, env connector.Env, cfg any) (connector.Operation, error) {
	c := *cfg.(*OperationConfig)
	db, err := system(env, c.System)
	if err != nil {
		return nil, fmt.Errorf("sql operation: %w", err)
	}
	return NewOperation(db, c)
}

// NewOperation builds an operation on db.
func NewOperation(db *DB, c OperationConfig) (*Operation, error) {
	n, err := parseNamed(c.Statement)
	if err != nil {
		return nil, fmt.Errorf("sql operation on %s: %w", db.where, err)
	}
	o := &Operation{db: db, named: n}
	o.stmt, o.order = n.render(db.dialect)
	return o, nil
}

// Do runs the statement with the record's fields; vars add :error and
// the other values the engine passes.
func (o *Operation) Do(ctx context.Context, d connector.Delivery, vars map[string]any) connector.Result {
	start := time.Now()
	args := make([]any, 0, len(o.order))
	for _, idx := range o.order {
		name := o.named.names[idx]
		v, err := lookup(name, d.Key, d.Record, vars)
		if err == nil {
			v, err = param(o.db.dialect, nil, v)
		}
		if err != nil {
			return connector.Result{Error: o.db.message(fmt.Errorf("%s operation: %w", o.db.dialect.name, err)), Duration: time.Since(start)}
		}
		args = append(args, v)
	}
	res, err := o.db.pool.ExecContext(ctx, o.stmt, args...)
	if err != nil {
		err = o.db.errorf(err, "%s operation on system %s", o.db.dialect.name, o.db.name)
		return connector.Result{Retryable: isRetryable(err), Error: err.Error(), Duration: time.Since(start)}
	}
	r := connector.Result{OK: true, Duration: time.Since(start)}
	if n, err := res.RowsAffected(); err == nil {
		r.Response = fmt.Sprintf("%d rows affected", n)
	}
	return r
}
