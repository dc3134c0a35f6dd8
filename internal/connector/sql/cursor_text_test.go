package sqlconn

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// A text cursor is refused on PostgreSQL and MariaDB: their collations
// may order it ("10" < "9") unlike the engine's comparison, and a read cut
// short would then store a cursor past rows never read (found by review).
func TestTextCursorRefused(t *testing.T) {
	for _, open := range []func(testing.TB) *testDB{newPostgres, newMySQL} {
		db := open(t)
		db.exec(t, "CREATE TABLE tc (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL)")
		db.exec(t, "INSERT INTO tc VALUES (1, '10'), (2, '9')")
		src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT id, code FROM tc", Key: "id", Cursor: "code"})
		if err != nil {
			t.Fatal(err)
		}
		err = src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
		if err == nil || !strings.Contains(err.Error(), `cursor column "code" is varchar`) {
			t.Errorf("%s: read with a text cursor: %v", db.DB.dialect.name, err)
		}
	}
}
