package sqlconn

import (
	"context"
	"reflect"
	"testing"
)

// TestPGRowsLikeDriver: PostgreSQL pages read from pgx's raw values give
// exactly the records (data, key, cursor) and the next page's parameters
// that database/sql's driver values give, for every type and edge value:
// infinite and pre-2000 times, NaN, negative zero, big integers, arrays,
// json: columns, NULLs, and repeated values (shared between records).
func TestPGRowsLikeDriver(t *testing.T) {
	db := newPostgres(t)
	db.exec(t, `CREATE TABLE edge (id int8 PRIMARY KEY, i2 int2, i4 int4, big int8, n numeric, n2 numeric(20,4), f4 float4, f8 float8,
		flag bool, t text, v varchar(10), c char(3), nm name, ts timestamptz, naive timestamp, d date, b bytea, j jsonb, js json,
		jt text, u uuid, ia int[], ta text[], o oid, iv interval, m money, inet inet)`)
	db.exec(t, `INSERT INTO edge VALUES
		(1, 1, -2, 9223372036854775807, 'NaN', -0.0000, 1.5, 'NaN', true, 'héllo', 'x', 'ab', 'name',
			'infinity', 'infinity', 'infinity', '', '{"a":[1,2.5,"x"],"n":12345678901234567890}', '[true,null]', '{"k":"v"}',
			'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"a b","c\"d",NULL}', 12, '1 day 2 hours', 12.5, '10.0.0.1/8'),
		(2, -32768, 2147483647, -9223372036854775808, 12345678901234567890.123456789, 12.5, -0, '-Infinity', false, '', '', '', '',
			'-infinity', '-infinity', '-infinity', '\x00ff10', '"DE"', '3', '[1,2]',
			NULL, '{}', '{}', 0, '-1 mons', -1, '::1'),
		(3, 0, 0, 9007199254740993, 0.1, 20.1, 3.4028235e38, 1e308, NULL, 'DE', 'DE', 'DE', 'DE',
			'1969-12-31 23:59:59.999999+00', '1999-12-31 23:59:59.5', '1900-01-01', '\xff', '{"country":"DE","qty":1}', '{"country":"DE"}', '"DE"',
			NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(4, NULL, NULL, 9007199254740992, -12.50, -0.5, 'Infinity', -0.0, true, 'DE', 'DE', 'DE', 'DE',
			'2024-03-01 10:20:30.123456+02', '2024-03-01 10:20:30.000001', '2024-02-29', '\xff', '{"country":"DE","qty":1}', '{"country":"DE"}', '"DE"',
			NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	ctx := context.Background()
	for _, cursor := range []string{"", "ts", "d", "n", "i4"} {
		for _, decimals := range []string{"string", "number"} {
			src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM edge", Key: "id", Cursor: cursor, Decimals: decimals, JSON: []string{"jt"}})
			if err != nil {
				t.Fatal(err)
			}
			cols, keyI, curI, err := src.describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pos := position{}
			q, args := src.pageQuery(cols, keyI, curI, pos)
			if curI >= 0 {
				q = "SELECT * FROM edge ORDER BY id" // the NULL cursors too
			}
			numbers := decimals == "number"
			want, wantKey, wantCur, err := src.scanPage(cols, keyI, curI, numbers)(ctx, q, args, "driver")
			if err != nil {
				t.Fatal(err)
			}
			r := newPGReader(src, cols, keyI, curI, numbers)
			for range 2 { // the second read with the caches of the first
				got, gotKey, gotCur, err := r.page(ctx, q, args, "raw")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 5 || len(got) != len(want) {
					t.Fatalf("cursor %q: %d records, want 5 (driver: %d)", cursor, len(got), len(want))
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Errorf("cursor %q, decimals %s, row %d:\n got %#v\nwant %#v", cursor, decimals, i+1, got[i], want[i])
					}
				}
				if !reflect.DeepEqual(gotKey, wantKey) || !reflect.DeepEqual(gotCur, wantCur) {
					t.Errorf("cursor %q: next page after (%#v, %#v), want (%#v, %#v)", cursor, gotCur, gotKey, wantCur, wantKey)
				}
			}
		}
	}
}
