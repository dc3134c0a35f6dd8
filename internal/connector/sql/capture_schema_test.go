package sqlconn

import (
	"context"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// A column added to the watched table does not break capture reads
// until a restart (found by review).
func TestCaptureSchemaChange(t *testing.T) {
	db := newPostgres(t)
	f := newCaptureFixture(t, db, 10, "", "SELECT * FROM {orders}")
	f.install(t)
	db.exec(t, "INSERT INTO "+f.orders+" VALUES (1, 'new', 5)")
	read := func() error {
		return f.src.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error { return p.Ack(ctx) })
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	db.exec(t, "ALTER TABLE "+f.orders+" ADD COLUMN note text")
	db.exec(t, "INSERT INTO "+f.orders+" VALUES (2, 'new', 5, 'x')")
	for i := 0; i < 2; i++ {
		if err := read(); err != nil {
			t.Errorf("read %d after ALTER TABLE: %v", i+1, err)
		}
	}
}
