package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr   string
		tokens []string
		ok     bool
	}{
		{"127.0.0.1:8080", nil, true},
		{"127.1.2.3:8080", nil, true},
		{"[::1]:8080", nil, true},
		{"localhost:8080", nil, true},
		{"LOCALHOST:8080", nil, true},
		{":8080", nil, false},
		{"0.0.0.0:8080", nil, false},
		{"[::]:8080", nil, false},
		{"10.0.0.5:8080", nil, false},
		{"ferry.internal:8080", nil, false},
		{"10.0.0.5:8080", []string{""}, false},
		{":8080", []string{"t0ken"}, true},
		{"0.0.0.0:8080", []string{"t0ken"}, true},
		{"no-port", []string{"t0ken"}, false},
	} {
		err := CheckListen(c.addr, c.tokens)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, %q) = %v, want ok %v", c.addr, c.tokens, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.addr) {
			t.Errorf("CheckListen(%q): %v does not name the address", c.addr, err)
		}
	}
}

func TestAuthorized(t *testing.T) {
	check := Authorized([]string{"alpha-token", "beta-token"})
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"Bearer alpha-token", true},
		{"bearer beta-token", true},
		{"Bearer  beta-token ", true},
		{"Bearer alpha", false},
		{"Bearer alpha-token-and-more", false},
		{"Basic alpha-token", false},
		{"alpha-token", false},
		{"Bearer ", false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/api/v1/routes", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if got := check(r); got != c.ok {
			t.Errorf("%q: %v, want %v", c.header, got, c.ok)
		}
	}
	if !Authorized(nil)(httptest.NewRequest("GET", "/", nil)) {
		t.Error("no tokens must leave everything open")
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"id":1,"total":12.5}`)
	hexSig := &config.WebhookSignature{Header: "X-Sig", Secret: "s3cret", Prefix: "sha256="}
	b64Sig := &config.WebhookSignature{Header: "X-Shopify-Hmac-Sha256", Secret: "s3cret", Encoding: "base64"}
	// Computed independently with openssl (as docs/api.md shows shops):
	// printf '%s' "$body" | openssl dgst -sha256 -hmac s3cret [-binary | base64]
	const wantHex = "5da10dd365948df316278e827c57c6d63a29423f68e7fa8c2e511a2f01eaf72e"
	const wantB64 = "XaEN02WUjfMWJ46CfFfG1jopQj9o5/qMLlEaLwHq9y4="
	if got := Sign(hexSig, body); got != "sha256="+wantHex {
		t.Errorf("Sign hex: %s", got)
	}
	if got := Sign(b64Sig, body); got != wantB64 {
		t.Errorf("Sign base64: %s", got)
	}
	for _, c := range []struct {
		name  string
		sig   *config.WebhookSignature
		value string
		err   string
	}{
		{"hex with prefix", hexSig, Sign(hexSig, body), ""},
		{"hex upper case", hexSig, "sha256=" + strings.ToUpper(strings.TrimPrefix(Sign(hexSig, body), "sha256=")), ""},
		{"base64", b64Sig, Sign(b64Sig, body), ""},
		{"base64 without padding", b64Sig, strings.TrimRight(Sign(b64Sig, body), "="), ""},
		{"missing", hexSig, "", "missing"},
		{"no prefix", hexSig, strings.TrimPrefix(Sign(hexSig, body), "sha256="), "must start with"},
		{"not hex", hexSig, "sha256=zz", "not a hex"},
		{"not base64", b64Sig, "%%%", "not a base64"},
		{"other body", hexSig, Sign(hexSig, []byte(`{"id":2}`)), "does not match"},
		{"other secret", hexSig, Sign(&config.WebhookSignature{Secret: "other", Prefix: "sha256="}, body), "does not match"},
	} {
		err := verifySignature(c.sig, c.value, body)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("%s: the error shows the secret: %v", c.name, err)
		}
	}
}

func TestParseRecords(t *testing.T) {
	for _, c := range []struct {
		name, body, ctype string
		n                 int
		err               string
	}{
		{"object", `{"id": 1}`, "application/json", 1, ""},
		{"object with spaces", " \n {\"id\": 1}\n ", "", 1, ""},
		{"array", `[{"id": 1}, {"id": 2}]`, "application/json", 2, ""},
		{"empty array", `[]`, "application/json", 0, ""},
		{"ndjson", "{\"id\": 1}\r\n\r\n{\"id\": 2}\n", "application/x-ndjson; charset=utf-8", 2, ""},
		{"ndjson as json", "{\"id\": 1}\n{\"id\": 2}", "application/json", 2, ""},
		{"syntax error", "{\"id\": 1,\n \"x\": ]}", "application/json", 0, "line 2, column 7"},
		{"truncated", `{"id": 1`, "", 0, "end of JSON input"},
		{"array of numbers", `[1]`, "", 0, "record 1 of the array is a number"},
		{"string", `"x"`, "", 0, "expected a JSON object"},
		{"ndjson array line", "{\"id\": 1}\n[1]\n", "application/x-ndjson", 0, "line 2 is an array"},
		{"ndjson bad line", "{\"id\": 1}\n{\"id\": }\n", "application/x-ndjson", 0, "invalid JSON on line 2"},
		{"ndjson empty", "\n\n", "application/x-ndjson", 0, "empty"},
		{"empty", "", "", 0, "empty"},
	} {
		recs, err := parseRecords([]byte(c.body), c.ctype)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		case c.err == "" && len(recs) != c.n:
			t.Errorf("%s: %d records, want %d", c.name, len(recs), c.n)
		}
	}
	// Integers beyond 2^53 keep every digit (they may be keys).
	recs, err := parseRecords([]byte(`{"id": 9007199254740993}`), "")
	if err != nil || recs[0]["id"] == 9007199254740992.0 {
		t.Errorf("big integer: %v %v", recs, err)
	}
}

func TestWriteDelivery(t *testing.T) {
	for _, c := range []struct {
		name     string
		d        service.Delivery
		code     int
		ctype    string
		contains string
	}{
		{"destination status and JSON body", service.Delivery{EntryID: 7, Outcome: store.OutcomeDone, StatusCode: 201, Response: `{"ok":true}`}, 201, "application/json", `{"ok":true}`},
		{"text body", service.Delivery{EntryID: 7, Outcome: store.OutcomeDead, StatusCode: 422, Response: "bad order"}, 422, "text/plain; charset=utf-8", "bad order"},
		{"no status, failed", service.Delivery{EntryID: 7, Outcome: store.OutcomeRetry, Error: "connection refused"}, 502, "application/problem+json", "connection refused"},
		{"no status, done (sql)", service.Delivery{EntryID: 7, Outcome: store.OutcomeDone}, 200, "", ""},
		{"unchanged", service.Delivery{EntryID: 7, Outcome: store.OutcomeUnchanged}, 200, "", ""},
	} {
		w := httptest.NewRecorder()
		writeDelivery(w, httptest.NewRequest("POST", "/hooks/x", nil), c.d)
		if w.Code != c.code || w.Header().Get("Content-Type") != c.ctype || !strings.Contains(w.Body.String(), c.contains) {
			t.Errorf("%s: %d %q %s", c.name, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if w.Header().Get("X-Ferry-Entry-Id") != "7" || w.Header().Get("X-Ferry-Outcome") != string(c.d.Outcome) {
			t.Errorf("%s: headers %v", c.name, w.Header())
		}
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\nef")
	for off, want := range map[int64]string{0: "line 1, column 1", 1: "line 1, column 2", 3: "line 2, column 1", 4: "line 2, column 2", 7: "line 3, column 2"} {
		if got := position(data, off); !strings.HasPrefix(got, want) {
			t.Errorf("position %d: %s, want %s", off, got, want)
		}
	}
}

// A store that failed a sync refuses durable writes until ferry restarts:
// callers get a 503 saying so (they keep their records and retry), and
// the server logs it once, not once per webhook call.
func TestWriteErrorOfAFailedSync(t *testing.T) {
	var logged bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logged, nil))}
	for range 3 {
		w := httptest.NewRecorder()
		s.writeError(w, httptest.NewRequest(http.MethodPost, "/hooks/orders", nil), fmt.Errorf("accept: %w: EIO", store.ErrSyncFailed))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), probNotReady) || w.Header().Get("Retry-After") == "" {
			t.Fatalf("answer %d %q (Retry-After %q), want 503 not-ready", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
		}
	}
	if n := strings.Count(logged.String(), "refuses durable commits"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logged.String())
	}
}
