package sqlconn

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// MySQL's ON DUPLICATE KEY UPDATE fires on any unique index, not only the
// key: a record writing another row's e-mail rewrote that row (found by
// review). Such a record now fails alone, saying why; the table is
// untouched, and records that do not write the other index still upsert.
func TestOtherUniqueIndexNeverOverwrites(t *testing.T) {
	for _, db := range []*testDB{newMySQL(t), newPostgres(t)} {
		db.exec(t, "CREATE TABLE cust (id INT PRIMARY KEY, email VARCHAR(50) NOT NULL UNIQUE, name VARCHAR(50) NOT NULL)")
		db.exec(t, "INSERT INTO cust VALUES (1, 'x@example.com', 'Alice')")
		d, err := NewDestination(db.DB, DestinationConfig{Table: "cust", Key: "id"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Send(context.Background(), []connector.Delivery{
			{EntryID: 1, Key: "2", Record: map[string]any{"id": 2.0, "email": "x@example.com", "name": "Bob"}},
			{EntryID: 2, Key: "3", Record: map[string]any{"id": 3.0, "email": "z@example.com", "name": "Cy"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := dump(t, db, "SELECT id, email, name FROM cust WHERE id = 1"); !strings.Contains(got, "Alice") {
			t.Errorf("%s: row 1 is now %s: overwritten by the record of key 2", db.kind, got)
		}
		if res[0].OK || res[0].Retryable {
			t.Errorf("%s: the clashing record settled %+v, want a failure that is not retried", db.kind, res[0])
		}
		if db.kind == "mysql" && !strings.Contains(res[0].Error, "another row already holds") {
			t.Errorf("mysql: error %q does not say why", res[0].Error)
		}
		if !res[1].OK {
			t.Errorf("%s: the other record: %+v", db.kind, res[1])
		}
	}
}
