package sqlconn

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// MariaDB rolls back the whole transaction on a deadlock; ROLLBACK TO
// SAVEPOINT then fails (1305), which isolate took for a row error and
// went on in autocommit.
// A record is never settled done unless its row is in the table: after
// a deadlock (found by review) every record of the batch was OK and
// none was written.
func TestDeadlockNeverSettlesUnwrittenRows(t *testing.T) {
	db := newMySQL(t)
	createOrders(t, db)
	db.exec(t, "CREATE TABLE heavy (id INT PRIMARY KEY, v INT NOT NULL)")
	for i := 0; i < 20; i++ {
		db.exec(t, "INSERT INTO heavy (id, v) SELECT seq, 0 FROM seq_"+strconv.Itoa(i*500+1)+"_to_"+strconv.Itoa(i*500+500))
	}
	db.exec(t, "INSERT INTO orders (id, name, qty) VALUES (100, 'pre', 1)")
	d, err := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	other, err := db.pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustExec := func(q string) {
		if _, err := other.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec("START TRANSACTION")
	mustExec("UPDATE heavy SET v = v + 1")
	mustExec("SELECT id FROM orders WHERE id = 100 FOR UPDATE")

	var batch []connector.Delivery
	for i := 1; i <= 5; i++ {
		batch = append(batch, order(i, "n"))
	}
	last := order(100, "changed")
	last.Record["status"] = "x" // another column list: a second statement
	batch = append(batch, last)
	type out struct {
		res []connector.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, e := d.Send(ctx, batch)
		done <- out{r, e}
	}()
	time.Sleep(700 * time.Millisecond) // ferry holds 1..5 and waits for 100
	if _, err := other.ExecContext(ctx, "UPDATE orders SET name = 'other' WHERE id = 3"); err != nil {
		t.Logf("other transaction: %v", err)
	}
	mustExec("COMMIT")
	o := <-done
	t.Logf("send err: %v", o.err)
	for i, r := range o.res {
		t.Logf("record %s: ok=%v retryable=%v err=%q", batch[i].Key, r.OK, r.Retryable, r.Error)
	}
	t.Logf("table: %s", dump(t, db, "SELECT id, name FROM orders ORDER BY id"))
	var n int
	db.pool.QueryRow("SELECT COUNT(*) FROM orders WHERE id BETWEEN 1 AND 5").Scan(&n)
	for i, r := range o.res {
		if r.OK && i < 5 && n < 5 {
			t.Errorf("record %s settled OK but only %d of rows 1..5 are in the table", batch[i].Key, n)
		}
	}
}
