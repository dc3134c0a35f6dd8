package sqlconn

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// TestPostgresArrays: arrays read as JSON arrays of their elements'
// values, and written back from them, through source and destination.
func TestPostgresArrays(t *testing.T) {
	db := newPostgres(t)
	db.exec(t, `CREATE TABLE arrs (id int PRIMARY KEY, ints int[], texts text[], nums numeric(8,2)[], grid int[][],
		flags bool[], stamps timestamptz[], blobs bytea[], docs jsonb[])`)
	db.exec(t, `INSERT INTO arrs VALUES (1, '{1,NULL,3}', ARRAY['a b', 'c"d', 'e\f', 'NULL', '', '{x}'], '{1.50,2.25}', '{{1,2},{3,4}}',
		'{t,f}', ARRAY['2024-03-01 10:00:00+02'::timestamptz], ARRAY['\x00ff'::bytea], ARRAY['{"a":1}'::jsonb, '[2]']),
		(2, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	src, _ := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM arrs", Key: "id"})
	recs := readAll(t, src, connector.ReadRequest{})
	got, _ := jsonx.Marshal(recs[0].Data)
	want := `{"blobs":["AP8="],"docs":[{"a":1},[2]],"flags":[true,false],"grid":[[1,2],[3,4]],"id":1,"ints":[1,null,3],` +
		`"nums":["1.50","2.25"],"stamps":["2024-03-01T08:00:00Z"],"texts":["a b","c\"d","e\\f","NULL","","{x}"]}`
	if string(got) != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if got, _ := jsonx.Marshal(recs[1].Data["ints"]); string(got) != "[]" {
		t.Fatalf("empty array: %s", got)
	}

	// Written back into a copy of the table, then read again: the same.
	db.exec(t, "CREATE TABLE arrs2 (LIKE arrs INCLUDING ALL)")
	dest, _ := NewDestination(db.DB, DestinationConfig{Table: "arrs2"})
	var batch []connector.Delivery
	for _, r := range recs {
		batch = append(batch, connector.Delivery{Key: r.Key, Record: r.Data})
	}
	for _, r := range send(t, dest, batch) {
		if !r.OK {
			t.Fatalf("%+v", r)
		}
	}
	src2, _ := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM arrs2", Key: "id"})
	again := readAll(t, src2, connector.ReadRequest{})
	for i := range recs {
		a, _ := jsonx.Marshal(recs[i].Data)
		b, _ := jsonx.Marshal(again[i].Data)
		if string(a) != string(b) {
			t.Fatalf("round trip:\n%s\n%s", a, b)
		}
	}
}
