package dashboard

import (
	"context"
	"strings"
	"testing"
)

// ErrorsCollect is the errors page's grouping with a cap of limit rows
// per kind, for errors_test.go to check a capped page without 20,000
// failed records (this file is in package dashboard).
func (d *Dashboard) ErrorsCollect(ctx context.Context, route, kind string, limit int) (causes, records int, notes []string, err error) {
	data, err := d.errorsCollect(ctx, route, kind, limit)
	if err != nil {
		return 0, 0, nil, err
	}
	return len(data.Groups), data.Records, data.Notes, nil
}

func TestFoldMessage(t *testing.T) {
	tests := []struct {
		name, msg, key, want string
	}{
		{"empty", "", "k", ""},
		{"plain words stay", "connection refused", "", "connection refused"},
		{"integers", "order 10042 has 3 lines", "", "order # has # lines"},
		{"decimals and negatives", "total -12.50 exceeds limit 1,000.00", "", "total -# exceeds limit #"},
		{"digits glued to letters stay", "code E422 in v2 (sha256)", "", "code E422 in v2 (sha256)"},
		{"digits before a unit fold", "took 850ms after 3s", "", "took #ms after #s"},
		{"id with prefix", "ORD-10042 rejected", "", "ORD-# rejected"},
		{"hex ids of 8 and more", "object 5f3a9b2c0d1e not found, etag deadbeef01", "", "object # not found, etag #"},
		{"short hex stays", "value ab12 bad", "", "value ab12 bad"},
		{"a hex-looking word without digits stays", "deadbeefcafe", "", "deadbeefcafe"},
		{"uuid", "request 123e4567-e89b-12d3-a456-426614174000 failed", "", "request <uuid> failed"},
		{"uppercase uuid", "ID 123E4567-E89B-12D3-A456-426614174000", "", "ID <uuid>"},
		{"double-quoted value", `customer "ACME-7" unknown`, "", `customer "…" unknown`},
		{"single-quoted value", `field 'zip' is required`, "", `field "…" is required`},
		{"apostrophes are not quotes", `can't find 'x' in customer's list`, "", `can't find "…" in customer's list`},
		{"quoted message stays, folded inside", `error: "customer 42 not found"`, "", `error: "customer # not found"`},
		{"json keys stay", `{"error":"no","id":17}`, "", `{"error":"…","id":#}`},
		{"escaped quotes in a json message", `{"error":"field \"zip\" invalid for 12"}`, "", `{"error":"field "…" invalid for #"}`},
		{"email", "mail to jane.doe+x@example.co.uk bounced", "", "mail to <email> bounced"},
		{"quoted email is a value", `user "a@b.io" exists`, "", `user "…" exists`},
		{"iso time", "expired at 2026-11-30T09:40:22.123Z, now 2026-11-30 10:00:00+01:00", "", "expired at <time>, now <time>"},
		{"date only", "no rate for 2026-11-30", "", "no rate for <time>"},
		{"the key", "customer C-77x unknown", "C-77x", "customer <key> unknown"},
		{"the key inside a longer word stays", "item C7 of C7x (EC7)", "C7", "item <key> of C7x (EC7)"},
		{"a number key folds as a number", "record 3 has 3 lines, not 2", "3", "record # has # lines, not #"},
		{"a uuid key folds as a uuid", "no 123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000", "no <uuid>"},
		{"the key as json escapes it", `HTTP 500 Internal Server Error: {"error":"customer \u003cscript\u003ex\u003c/script\u003e unknown"}`, "<script>x</script>",
			`HTTP 500 Internal Server Error: {"error":"customer <key> unknown"}`},
		{"http status stays", `HTTP 422 Unprocessable Entity: {"error":"customer 1 unknown in ERP (code E422)"}`, "1",
			`HTTP 422 Unprocessable Entity: {"error":"customer # unknown in ERP (code E422)"}`},
		{"status stays when the key is a number", "HTTP 422 Unprocessable Entity: record 422 refused", "422", "HTTP 422 Unprocessable Entity: record # refused"},
		{"status stays beside the key", "HTTP 404 Not Found: SKU-9 HTTP 404", "SKU-9", "HTTP 404 Not Found: <key> HTTP 404"},
		{"a key glued to a status is no key", "status 404x", "404x", "status <key>"},
		{"status words", "upstream answered status 503, status code: 404, HTTP/1.1 500", "", "upstream answered status 503, status code: 404, HTTP/1.1 500"},
		{"a number after status that is no code folds", "status 7 of 9", "", "status # of #"},
		{"ferry source error", `page 3 (GET https://shop.example/api/orders?page=3): HTTP 429 Too Many Requests`, "",
			`page # (GET https://shop.example/api/orders?page=#): HTTP 429 Too Many Requests`},
		{"network error", "Post \"http://127.0.0.1:4321/dst\": dial tcp 127.0.0.1:4321: connect: connection refused", "",
			`Post "…": dial tcp #:#: connect: connection refused`},
		{"whitespace collapses", "a  \n\t b", "", "a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := foldMessage(tc.msg, tc.key); got != tc.want {
				t.Errorf("foldMessage(%q, %q)\n got %q\nwant %q", tc.msg, tc.key, got, tc.want)
			}
		})
	}
}

func TestFoldSameCause(t *testing.T) {
	// Records failing for one reason fold to one cause whatever their
	// key, ids and times; another status is another cause.
	msg := func(status, key, id string) string {
		return "HTTP " + status + ` Unprocessable Entity: {"error":"customer ` + key + ` unknown (request ` + id + `)","at":"2026-11-30T09:00:0` + key[len(key)-1:] + `Z"}`
	}
	a := foldMessage(msg("422", "10041", "9f8e7d6c5b4a"), "10041")
	b := foldMessage(msg("422", "7", "0a1b2c3d4e5f6a7b"), "7")
	c := foldMessage(msg("400", "7", "0a1b2c3d4e5f6a7b"), "7")
	if a != b {
		t.Errorf("same cause folded apart:\n%q\n%q", a, b)
	}
	if a == c {
		t.Errorf("statuses 422 and 400 folded together: %q", a)
	}
	// A number key that also reads as part of a time or a count.
	for _, key := range []string{"2026", "11", "30", "5", "7"} {
		got := foldMessage(`HTTP 503 Service Unavailable: {"error":"record `+key+` busy, try again at 2026-11-30T10:05:00Z"}`, key)
		if want := `HTTP 503 Service Unavailable: {"error":"record # busy, try again at <time>"}`; got != want {
			t.Errorf("key %s: %q, want %q", key, got, want)
		}
	}
	if foldFingerprint(a) != foldFingerprint(b) || foldFingerprint(a) == foldFingerprint(c) || len(foldFingerprint(a)) != 64 {
		t.Errorf("fingerprints do not follow the causes")
	}
}

func TestFoldCuts(t *testing.T) {
	long := strings.Repeat("é word ", 2000)
	got := foldMessage(long, "")
	if n := len([]rune(got)); n != foldOutputMax {
		t.Errorf("folded length %d runes, want %d", n, foldOutputMax)
	}
}
