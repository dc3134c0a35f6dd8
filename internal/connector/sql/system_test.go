package sqlconn

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

const password = "S3cretPassw0rd-xyz"

// TestDSNNeverShown: a database that does not answer (nothing listens on
// port 1) fails every call with a message that names the system but
// shows neither the DSN nor its password; a DSN that does not parse too.
func TestDSNNeverShown(t *testing.T) {
	cases := []struct {
		kind string
		cfg  any
		dsn  string
	}{
		{"postgres", &PostgresConfig{DSN: "postgres://ferry:" + password + "@127.0.0.1:1/erp?sslmode=disable", ConnectTimeout: "2s"}, ""},
		{"postgres", &PostgresConfig{DSN: "host=127.0.0.1 port=1 user=ferry password=" + password + " dbname=erp"}, ""},
		{"mysql", &MySQLConfig{DSN: "ferry:" + password + "@tcp(127.0.0.1:1)/erp", ConnectTimeout: "2s"}, ""},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.kind, i), func(t *testing.T) {
			dsn := c.cfg.(interface{ dsn() string }).dsn()
			env := connector.Env{Secrets: []string{dsn}}
			sys, err := openSystem(env, c.kind, "erp", c.cfg)
			if err != nil {
				t.Fatalf("build must not connect: %v", err)
			}
			defer sys.Close()
			clean := func(what, msg string) {
				t.Helper()
				if msg == "" {
					t.Fatalf("%s: no error", what)
				}
				if strings.Contains(msg, password) || strings.Contains(msg, dsn) {
					t.Fatalf("%s shows the secret: %s", what, msg)
				}
				if !strings.Contains(msg, "erp") {
					t.Fatalf("%s does not name the system: %s", what, msg)
				}
			}
			ctx := context.Background()
			err = sys.Check(ctx)
			clean("check", fmt.Sprint(err))
			src, _ := NewSource(sys, SourceConfig{Query: "SELECT 1 AS id", Key: "id"})
			err = src.Read(ctx, connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
			clean("read", fmt.Sprint(err))
			dest, _ := NewDestination(sys, DestinationConfig{Table: "orders"})
			res, _ := dest.Send(ctx, []connector.Delivery{order(1, "x")})
			clean("send", res[0].Error)
			if !res[0].Retryable {
				t.Fatalf("a connection error is retryable: %+v", res[0])
			}
			op, _ := NewOperation(sys, OperationConfig{Statement: "UPDATE orders SET a = 1 WHERE id = :key"})
			r := op.Do(ctx, connector.Delivery{Key: "1"}, nil)
			clean("operation", r.Error)
		})
	}
	for _, c := range []struct {
		kind string
		cfg  any
	}{
		{"postgres", &PostgresConfig{DSN: "postgres://ferry:" + password + "@127.0.0.1:notaport/erp"}},
		{"postgres", &PostgresConfig{DSN: "host=127.0.0.1 port=notaport user=ferry password=" + password}},
		{"mysql", &MySQLConfig{DSN: "ferry:" + password + "@tcp(127.0.0.1:3306/erp"}},
	} {
		_, err := openSystem(connector.Env{}, c.kind, "erp", c.cfg)
		if err == nil || strings.Contains(err.Error(), password) {
			t.Fatalf("%s: bad DSN: %v", c.kind, err)
		}
	}
}

func (c *PostgresConfig) dsn() string { return c.DSN }
func (c *MySQLConfig) dsn() string    { return c.DSN }

// checker records what validation reports.
type checker struct {
	errs    []string
	systems map[string]string // name -> kind
}

func (c *checker) Errorf(field, format string, args ...any) {
	c.errs = append(c.errs, field+": "+fmt.Sprintf(format, args...))
}
func (c *checker) Has(string) bool    { return true }
func (c *checker) Secret(string) bool { return false }
func (c *checker) System(field, name string, kinds ...string) (any, bool) {
	k, ok := c.systems[name]
	for _, want := range kinds {
		if ok && k == want {
			return nil, true
		}
	}
	c.Errorf(field, "no system %q of kind %v", name, kinds)
	return nil, false
}

// TestKinds: the kinds form a valid set; validation reports each problem
// at its field; an example config builds without the database.
func TestKinds(t *testing.T) {
	set, err := connector.NewSet(Kinds()...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "mysql,postgres,sql,sqlite" {
		t.Fatalf("kinds %s", got)
	}
	sqlKind, _ := set.Kind("sql")
	cases := []struct {
		role connector.Role
		cfg  any
		want []string
	}{
		{connector.RoleSource, &SourceConfig{System: "erp", Query: "SELECT * FROM t;", Key: "id", Cursor: "updated_at"}, nil},
		{connector.RoleSource, &SourceConfig{System: "nope", Key: "id", Cursor: "id", Decimals: "float", PageSize: -1},
			[]string{`system: no system "nope"`, "query: an sql source needs a query", "cursor: the cursor column must differ",
				"page_size: must be between", `decimals: expected string or number, got "float"`}},
		{connector.RoleDestination, &DestinationConfig{System: "erp", Table: "public.orders", Key: "id, line", Columns: []string{"id", "line", "qty"}}, nil},
		{connector.RoleDestination, &DestinationConfig{System: "erp"}, []string{": an sql destination needs a table"}},
		{connector.RoleDestination, &DestinationConfig{System: "erp", Table: "t", Statement: "x"}, []string{"statement: give either"}},
		{connector.RoleDestination, &DestinationConfig{System: "erp", Table: "t", Key: "id", Columns: []string{"qty", "qty"}},
			[]string{`columns.1: column "qty" is listed twice`, `columns: the key column "id" must be one of the columns`}},
		{connector.RoleDestination, &DestinationConfig{System: "erp", Statement: "SELECT 'unterminated"}, []string{"statement: statement: unterminated ' quote"}},
		{connector.RoleOperation, &OperationConfig{System: "erp"}, []string{"statement: an sql operation needs a statement"}},
	}
	for i, c := range cases {
		ch := &checker{systems: map[string]string{"erp": "postgres"}}
		spec := sqlKind.Spec(c.role)
		if spec.Defaults != nil {
			spec.Defaults(c.cfg)
		}
		spec.Validate(ch, c.cfg)
		if len(ch.errs) != len(c.want) {
			t.Fatalf("case %d: got %q, want %q", i, ch.errs, c.want)
		}
		for j, w := range c.want {
			if !strings.HasPrefix(ch.errs[j], w) {
				t.Fatalf("case %d: error %d is %q, want %q", i, j, ch.errs[j], w)
			}
		}
	}
	pg, _ := set.Kind("postgres")
	ch := &checker{}
	pg.System.Validate(ch, &PostgresConfig{ConnectTimeout: "soon"})
	if len(ch.errs) != 2 {
		t.Fatalf("postgres validation: %q", ch.errs)
	}
	ch = &checker{}
	pg.System.Validate(ch, &PostgresConfig{DSN: "postgres://u:" + password + "@h:notaport/db"})
	my, _ := set.Kind("mysql")
	my.System.Validate(ch, &MySQLConfig{DSN: "u:" + password + "@tcp(h:3306/db"})
	if len(ch.errs) != 2 || !strings.HasPrefix(ch.errs[0], "dsn: not a PostgreSQL connection string") ||
		!strings.HasPrefix(ch.errs[1], "dsn: not a MySQL connection string") || strings.Contains(strings.Join(ch.errs, " "), password) {
		t.Fatalf("bad DSNs: %q", ch.errs)
	}

	// Building needs no database: the pool opens at the first query.
	ctx := context.Background()
	sys, err := pg.System.Build(ctx, connector.Env{}, "erp", &PostgresConfig{DSN: "postgres://ferry:" + password + "@db.invalid:5432/erp"})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.(*DB).Close()
	env := connector.Env{System: func(name string) (connector.System, error) {
		if name != "erp" {
			return nil, fmt.Errorf("no system %q", name)
		}
		return sys, nil
	}}
	if _, err := sqlKind.Source.Build(ctx, env, &SourceConfig{System: "erp", Query: "SELECT 1", Key: "id"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlKind.Destination.Build(ctx, env, &DestinationConfig{System: "erp", Table: "orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlKind.Operation.Build(ctx, env, &OperationConfig{System: "erp", Statement: "SELECT :key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlKind.Source.Build(ctx, env, &SourceConfig{System: "other", Query: "SELECT 1", Key: "id"}); err == nil {
		t.Fatal("unknown system")
	}
}
