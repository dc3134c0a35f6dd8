package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/store"
)

var shopSig = &config.WebhookSignature{Header: "X-Shop-Hmac-Sha256", Secret: shopSecret, Prefix: "sha256="}

// queuedNothing checks that route has no entry and no attempt at all.
func (f *fixture) queuedNothing(t *testing.T, route string) {
	t.Helper()
	if n := f.counts(t, route); n != (store.Counts{}) {
		t.Errorf("route %s queued something: %+v", route, n)
	}
	if atts, err := f.store.RecentAttempts(context.Background(), route, 10); err != nil || len(atts) != 0 {
		t.Errorf("route %s has attempts: %+v %v", route, atts, err)
	}
}

type accepted struct {
	Status  string
	Entries []struct {
		EntryID   int64 `json:"entry_id"`
		Version   int64
		Unchanged bool
	}
}

// testWebhookStatuses pushes to webhooks: every refusal queues nothing;
// what is accepted is in the store when the 202 comes.
func testWebhookStatuses(t *testing.T, f *fixture) {
	bigBody := `{"id": 1, "pad": "` + strings.Repeat("x", 2000) + `"}`
	refused := []struct {
		name string
		c    req
		want string // in the problem's detail
	}{
		{"no token", req{method: "POST", path: "/hooks/hook", token: "-", body: `{"id":1}`, want: 401}, "token"},
		{"the API token", req{method: "POST", path: "/hooks/hook", body: `{"id":1}`, want: 401}, "token"},
		{"wrong token", req{method: "POST", path: "/hooks/hook", token: "nope", body: `{"id":1}`, want: 401}, "token"},
		{"invalid JSON", req{method: "POST", path: "/hooks/hook", token: hookToken, body: "{\n  \"id\": 1,\n  \"x\": tru\n}", want: 400}, "line 3, column"},
		{"truncated JSON", req{method: "POST", path: "/hooks/hook", token: hookToken, body: `[{"id":1},`, want: 400}, "end of JSON input"},
		{"not an object", req{method: "POST", path: "/hooks/hook", token: hookToken, body: `[{"id":1}, 7]`, want: 400}, "record 2"},
		{"a scalar", req{method: "POST", path: "/hooks/hook", token: hookToken, body: `"hello"`, want: 400}, "expected a JSON object"},
		{"empty", req{method: "POST", path: "/hooks/hook", token: hookToken, body: ``, want: 400}, "empty"},
		{"bad NDJSON line", req{method: "POST", path: "/hooks/hook", token: hookToken, body: "{\"id\":1}\n{\"id\":2\n",
			header: map[string]string{"Content-Type": "application/x-ndjson"}, want: 400}, "line 2"},
		{"no key", req{method: "POST", path: "/hooks/hook", token: hookToken, body: `[{"id":1},{"name":"no id"}]`, want: 400}, ""},
		{"unknown route", req{method: "POST", path: "/hooks/nope", token: hookToken, body: `{"id":1}`, want: 404}, "nope"},
		{"route without webhook", req{method: "POST", path: "/hooks/orders", token: hookToken, body: `{"id":1}`, want: 404}, "orders"},
		{"no signature", req{method: "POST", path: "/hooks/signed", token: "-", body: `{"id":1}`, want: 401}, "missing"},
		{"wrong signature", req{method: "POST", path: "/hooks/signed", token: "-", body: `{"id":1}`,
			header: map[string]string{"X-Shop-Hmac-Sha256": server.Sign(shopSig, []byte(`{"id":2}`))}, want: 401}, "does not match"},
		{"signature without prefix", req{method: "POST", path: "/hooks/signed", token: "-", body: `{"id":1}`,
			header: map[string]string{"X-Shop-Hmac-Sha256": strings.TrimPrefix(server.Sign(shopSig, []byte(`{"id":1}`)), "sha256=")}, want: 401}, "sha256="},
		// Refused before the body is read: 401, not 413.
		{"oversize without signature", req{method: "POST", path: "/hooks/signed", token: "-", body: bigBody, want: 401}, "missing"},
		{"oversize", req{method: "POST", path: "/hooks/signed", token: "-", body: bigBody,
			header: map[string]string{"X-Shop-Hmac-Sha256": server.Sign(shopSig, []byte(bigBody))}, want: 413}, "1024"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			p := f.do(t, c.c).problem(t)
			if !strings.Contains(p.Detail, c.want) {
				t.Errorf("detail %q does not mention %q", p.Detail, c.want)
			}
		})
	}
	f.queuedNothing(t, "hook")
	f.queuedNothing(t, "signed")

	t.Run("async", func(t *testing.T) {
		release := f.sys.hold("hook")
		defer release()
		for _, c := range []struct {
			body, ctype string
			n           int
		}{
			{`{"id": 10, "name": "one"}`, "application/json", 1},
			{`[{"id": 11}, {"id": 12}]`, "application/json", 2},
			{"{\"id\": 13}\n\n{\"id\": 14}\n", "application/x-ndjson", 2},
			{"{\"id\": 15}\n{\"id\": 16}", "application/json", 2}, // NDJSON sent as JSON
		} {
			var a accepted
			f.do(t, req{method: "POST", path: "/hooks/hook", token: hookToken, body: c.body,
				header: map[string]string{"Content-Type": c.ctype}, want: 202}).json(t, &a)
			if a.Status != "queued" || len(a.Entries) != c.n {
				t.Fatalf("%s: %+v", c.body, a)
			}
			for _, e := range a.Entries {
				if _, err := f.store.Entry(context.Background(), e.EntryID); err != nil {
					t.Errorf("entry %d of the 202 is not in the store: %v", e.EntryID, err)
				}
			}
		}
		body := `{"id": 20}`
		var a accepted
		f.do(t, req{method: "POST", path: "/hooks/signed", token: "-", body: body,
			header: map[string]string{"X-Shop-Hmac-Sha256": server.Sign(shopSig, []byte(body))}, want: 202}).json(t, &a)
		if len(a.Entries) != 1 {
			t.Fatalf("signed: %+v", a)
		}
	})

	t.Run("sync", func(t *testing.T) {
		for _, want := range []int{201, 422} {
			r := f.do(t, req{method: "POST", path: "/hooks/sync", token: hookToken, body: `{"id": ` + strconv.Itoa(want) + `, "want": ` + strconv.Itoa(want) + `}`, want: want})
			if !strings.Contains(string(r.body), `"erp_id":"ERP-`+strconv.Itoa(want)+`"`) || r.Header.Get("X-Ferry-Entry-Id") == "" {
				t.Errorf("sync %d: headers %v body %s", want, r.Header, r.body)
			}
			wantOutcome := map[int]string{201: "done", 422: "dead"}[want]
			if got := r.Header.Get("X-Ferry-Outcome"); got != wantOutcome {
				t.Errorf("sync %d: outcome %q, want %q", want, got, wantOutcome)
			}
		}
		var d struct {
			Deliveries []struct {
				EntryID    int64 `json:"entry_id"`
				Outcome    string
				StatusCode int `json:"status_code"`
			}
		}
		f.do(t, req{method: "POST", path: "/hooks/sync", token: hookToken, body: `[{"id": 30}, {"id": 31, "want": 500}]`, want: 200}).json(t, &d)
		if len(d.Deliveries) != 2 || d.Deliveries[0].Outcome != "done" || d.Deliveries[1].StatusCode != 500 || d.Deliveries[1].Outcome != "error" {
			t.Errorf("sync deliveries: %+v", d)
		}
	})

	t.Run("sync timeout", func(t *testing.T) {
		release := f.sys.hold("syncslow")
		defer release()
		var a accepted
		f.do(t, req{method: "POST", path: "/hooks/syncslow", token: hookToken, body: `{"id": 40}`, want: 202}).json(t, &a)
		if a.Status != "pending" || len(a.Entries) != 1 {
			t.Fatalf("sync timeout: %+v", a)
		}
		if _, err := f.store.Entry(context.Background(), a.Entries[0].EntryID); err != nil {
			t.Errorf("entry of the pending answer: %v", err)
		}
	})
}

// testEvents reads the event stream: a route filter, the JSON event.
func testEvents(t *testing.T, f *fixture) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/v1/events?route=orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+apiToken)
	route, params, err := f.router.FindRoute(hr)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.covered["GET "+route.Path] = true
	f.mu.Unlock()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, ExcludeResponseBody: true}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		t.Errorf("request: %v", err)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts,
	}); err != nil {
		t.Errorf("answer: %v", err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(res.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, ":") {
		t.Fatalf("first line %q: %v", line, err)
	}
	// Subscribed now (the handler subscribes before it answers).
	f.svc.Events().Publish(events.Event{Type: events.TickSkipped, Route: "clean", Message: "filtered out"})
	f.svc.Events().Publish(events.Event{Type: events.TickSkipped, Route: "orders", Message: "still running"})
	var got []string
	for len(got) < 2 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, got)
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, ":") {
			got = append(got, line)
		}
	}
	if got[0] != "event: tick.skipped" || !strings.Contains(got[1], `"route":"orders"`) || !strings.Contains(got[1], "still running") {
		t.Errorf("events: %q", got)
	}
}
