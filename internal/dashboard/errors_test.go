package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
	"github.com/ferry-dev/ferry/internal/store"
)

// errorsFixture makes 300 failing orders with 3 causes: keys 1-150 are
// refused with 422 (dead at once), 151-250 with 400 (dead at once),
// 251-300 answer 503 (errors waiting for a retry).
func errorsFixture(t *testing.T) *dashboardtest.Fixture {
	t.Helper()
	f := dashboardtest.New(t, dashboardtest.Options{})
	var recs []map[string]any
	for i := 1; i <= 300; i++ {
		recs = append(recs, map[string]any{"id": i, "total": i * 3})
		switch {
		case i <= 150:
			f.Sys.Fail(fmt.Sprint(i), 422)
		case i <= 250:
			f.Sys.Fail(fmt.Sprint(i), 400)
		default:
			f.Sys.Fail(fmt.Sprint(i), 503)
		}
	}
	f.Sys.SetRecords("orders", recs...)
	f.Run("orders")
	c := errCounts(t, f, "orders")
	if c.Dead != 250 || c.Error != 50 {
		t.Fatalf("fixture: %+v, want 250 dead and 50 errors", c)
	}
	return f
}

func errCounts(t *testing.T, f *dashboardtest.Fixture, route string) store.Counts {
	t.Helper()
	c, err := f.Store.Counts(context.Background(), route)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	errRowRE   = regexp.MustCompile(`(?s)<tr>\s*<td><a href="/routes/[^"]+">[^<]*</a>.*?</tr>`)
	errFpRE    = regexp.MustCompile(`name="fp" value="([0-9a-f]{64})"`)
	errCountRE = regexp.MustCompile(`<td class="num">([0-9,]+)</td>`)
	errKindRE  = regexp.MustCompile(`name="kind" value="(error|dead)"`)
)

type errGroupRow struct {
	html, fp, kind, count string
}

// groups reads the group rows of an errors page.
func errGroups(t *testing.T, body string) []errGroupRow {
	t.Helper()
	var out []errGroupRow
	for _, row := range errRowRE.FindAllString(body, -1) {
		g := errGroupRow{html: row}
		if m := errFpRE.FindStringSubmatch(row); m != nil {
			g.fp = m[1]
		}
		if m := errKindRE.FindStringSubmatch(row); m != nil {
			g.kind = m[1]
		}
		if m := errCountRE.FindStringSubmatch(row); m != nil {
			g.count = m[1]
		}
		out = append(out, g)
	}
	return out
}

func errFindGroup(t *testing.T, gs []errGroupRow, contains string) errGroupRow {
	t.Helper()
	for _, g := range gs {
		if strings.Contains(g.html, contains) {
			return g
		}
	}
	t.Fatalf("no group row contains %q", contains)
	return errGroupRow{}
}

func TestErrorsGroupsByCause(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	p := f.Get("/errors")
	if p.Status != http.StatusOK {
		t.Fatalf("GET /errors: %d\n%s", p.Status, p.Body)
	}
	gs := errGroups(t, p.Body)
	if len(gs) != 3 {
		t.Fatalf("%d groups, want 3:\n%s", len(gs), p.Body)
	}
	// Most frequent first, with the key folded out of the destination's
	// message and the status kept.
	want := []struct{ status, kind, count string }{{"422", "dead", "150"}, {"400", "dead", "100"}, {"503", "error", "50"}}
	for i, w := range want {
		g := gs[i]
		if !strings.Contains(g.html, "HTTP "+w.status) || g.kind != w.kind || g.count != w.count {
			t.Errorf("group %d: kind %s count %s, want HTTP %s %s %s:\n%s", i, g.kind, g.count, w.status, w.kind, w.count, g.html)
		}
		if !strings.Contains(g.html, "customer # unknown in ERP (code E"+w.status+")") {
			t.Errorf("group %d does not show the folded cause:\n%s", i, g.html)
		}
		if !strings.Contains(g.html, `hx-confirm="Replay the `+w.count) {
			t.Errorf("group %d: the replay confirmation does not name the count:\n%s", i, g.html)
		}
		if n := strings.Count(g.html, `href="/routes/orders/keys/`); n != 3 {
			t.Errorf("group %d: %d example keys, want 3", i, n)
		}
		if !regexp.MustCompile(`href="/entries/\d+"`).MatchString(g.html) {
			t.Errorf("group %d: no example entry link", i)
		}
		if !strings.Contains(g.html, `name="csrf"`) {
			t.Errorf("group %d: forms without CSRF token", i)
		}
	}
	if !strings.Contains(p.Body, "300 records in 3 causes") {
		t.Errorf("no summary line")
	}

	// Filters: one kind, one route.
	if gs := errGroups(t, f.Get("/errors?kind=error").Body); len(gs) != 1 || gs[0].count != "50" {
		t.Errorf("kind=error: %d groups %+v", len(gs), gs)
	}
	if gs := errGroups(t, f.Get("/errors?kind=dead&route=orders").Body); len(gs) != 2 {
		t.Errorf("kind=dead route=orders: %d groups", len(gs))
	}
	if p := f.Get("/errors?route=customers"); !strings.Contains(p.Body, "No errors match these filters.") {
		t.Errorf("route=customers: no empty state:\n%s", p.Body)
	}
	if p := f.Get("/errors?kind=bogus"); p.Status != http.StatusBadRequest {
		t.Errorf("kind=bogus: %d", p.Status)
	}
	// htmx asks for the body alone.
	frag := f.Do(http.MethodGet, "/errors?kind=dead", nil, http.Header{"Hx-Request": {"true"}})
	if frag.Status != http.StatusOK || strings.Contains(frag.Body, "<html") || len(errGroups(t, frag.Body)) != 2 {
		t.Errorf("htmx fragment: %d, %d groups\n%s", frag.Status, len(errGroups(t, frag.Body)), frag.Body)
	}
}

func TestErrorsCapped(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	// The page groups the first 20,000 rows of each kind; with 100 the
	// 250 dead letters are cut, the 50 error entries are not.
	causes, records, notes, err := f.Dash.ErrorsCollect(context.Background(), "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if records != 150 || causes != 2 {
		t.Errorf("capped at 100: %d records in %d causes, want 150 in 2 (100 dead letters with 422, 50 errors)", records, causes)
	}
	want := []string{"Grouped the first 100 of 250 dead letters; the rest are not counted here."}
	if strings.Join(notes, "|") != strings.Join(want, "|") {
		t.Errorf("notes %q, want %q", notes, want)
	}
	_, records, notes, err = f.Dash.ErrorsCollect(context.Background(), "orders", "error", 50)
	if err != nil || records != 50 || len(notes) != 0 {
		t.Errorf("exactly the cap: %d records, notes %q, %v", records, notes, err)
	}
}

func TestErrorsReplayGroup(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	g := errFindGroup(t, errGroups(t, f.Get("/errors").Body), "HTTP 422")
	// The fix: the ERP knows those customers now.
	for i := 1; i <= 150; i++ {
		f.Sys.Fail(fmt.Sprint(i), 0)
	}
	// Order 1 changed at the source and its new version went through:
	// its dead letter is older data and must not be replayed over it.
	var recs []map[string]any
	for i := 1; i <= 300; i++ {
		recs = append(recs, map[string]any{"id": i, "total": i * 3})
	}
	recs[0]["total"] = 1000
	f.Sys.SetRecords("orders", recs...)
	f.Run("orders")
	if c := errCounts(t, f, "orders"); c.Dead != 250 {
		t.Fatalf("before replay: %+v", c)
	}
	p := errPost(t, f, "/errors/replay", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {g.fp}})
	if p.Status != http.StatusOK {
		t.Fatalf("replay: %d\n%s", p.Status, p.Body)
	}
	if !strings.Contains(p.Body, "Replayed 149 records of “HTTP 422 Unprocessable Entity") ||
		!strings.Contains(p.Body, "1 was superseded by newer versions") {
		t.Errorf("no flash naming the replay:\n%s", p.Body)
	}
	// The dashboard asked for a run: wait for the records to go out.
	errWaitFor(t, "the replayed records delivered", func() bool {
		c := errCounts(t, f, "orders")
		return c.Dead == 101 && c.Pending == 0 && c.Leased == 0
	})
	if c := errCounts(t, f, "orders"); c.Error != 50 {
		t.Errorf("after replay: %+v, want the 50 errors left alone", c)
	}
	if n := f.Sys.Received("orders"); n < 300+1+149 {
		t.Errorf("the destination got %d deliveries, want the 149 replayed among them", n)
	}
	// What is left of the cause is the superseded dead letter.
	g = errFindGroup(t, errGroups(t, f.Get("/errors").Body), "HTTP 422")
	if g.count != "1" {
		t.Errorf("after replay: the 422 group has %s records, want the superseded 1", g.count)
	}
}

func TestErrorsReplayErrorEntries(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	g := errFindGroup(t, errGroups(t, f.Get("/errors?kind=error").Body), "HTTP 503")
	for i := 251; i <= 300; i++ {
		f.Sys.Fail(fmt.Sprint(i), 0)
	}
	// htmx: the body comes back with the flash out of band.
	form := url.Values{"route": {"orders"}, "kind": {"error"}, "fp": {g.fp}, "filter_kind": {"error"}}
	form.Set("csrf", f.Get("/").CSRF())
	p := f.Do(http.MethodPost, "/errors/replay", form, http.Header{"Hx-Request": {"true"}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `hx-swap-oob="true"`) || !strings.Contains(p.Body, "Replayed 50 records") {
		t.Fatalf("htmx replay: %d\n%s", p.Status, p.Body)
	}
	errWaitFor(t, "the retried records delivered", func() bool {
		c := errCounts(t, f, "orders")
		return c.Error == 0 && c.Pending == 0 && c.Leased == 0
	})
	// The same form again: nothing left of that cause.
	p = errPost(t, f, "/errors/replay", url.Values{"route": {"orders"}, "kind": {"error"}, "fp": {g.fp}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Nothing to replay") {
		t.Errorf("second replay: %d\n%s", p.Status, p.Body)
	}
}

func TestErrorsDiscardGroup(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	g := errFindGroup(t, errGroups(t, f.Get("/errors").Body), "HTTP 400")
	// Without the CSRF token the discard is refused.
	if p := f.Do(http.MethodPost, "/errors/discard", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {g.fp}}, nil); p.Status != http.StatusForbidden {
		t.Errorf("discard without CSRF token: %d", p.Status)
	}
	if c := errCounts(t, f, "orders"); c.Dead != 250 {
		t.Fatalf("a discard without CSRF token changed the dead letters: %+v", c)
	}
	raw := f.Post("/errors/discard", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {g.fp}, "filter_route": {"orders"}, "filter_kind": {"dead"}})
	if loc := raw.Header.Get("Location"); raw.Status != http.StatusSeeOther || loc != "/errors?kind=dead&route=orders" {
		t.Fatalf("discard: %d to %q, want 303 back to the filtered page", raw.Status, loc)
	}
	p := f.Get(raw.Header.Get("Location"))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Discarded 100 records of “HTTP 400 Bad Request") {
		t.Fatalf("discard: %d\n%s", p.Status, p.Body)
	}
	if c := errCounts(t, f, "orders"); c.Dead != 150 || c.Error != 50 {
		t.Errorf("after discard: %+v, want 150 dead and 50 errors", c)
	}
	// The history says who and why.
	as, err := f.Store.KeyAttempts(context.Background(), "orders", "160", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := as[len(as)-1]
	if last.Outcome != store.OutcomeDiscarded || !strings.Contains(last.Error, "dashboard (127.0.0.1)") ||
		!strings.Contains(last.Error, "discarded in the dashboard: HTTP 400 Bad Request") {
		t.Errorf("discard attempt: %+v", last)
	}
	// A forged fingerprint discards nothing.
	p = errPost(t, f, "/errors/discard", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {strings.Repeat("ab", 32)}})
	if !strings.Contains(p.Body, "Nothing to discard") {
		t.Errorf("forged fp: %s", p.Body)
	}
	if c := errCounts(t, f, "orders"); c.Dead != 150 {
		t.Errorf("forged fp changed the dead letters: %+v", c)
	}
	// A form that names no cause is refused.
	if p := errPost(t, f, "/errors/discard", url.Values{"route": {"orders"}, "kind": {"dead"}}); p.Status != http.StatusBadRequest {
		t.Errorf("no fp: %d", p.Status)
	}
}

func TestErrorsEmpty(t *testing.T) {
	t.Parallel()
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5})
	f.Run("orders")
	p := f.Get("/errors")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "No errors. Every record went through.") {
		t.Fatalf("empty: %d\n%s", p.Status, p.Body)
	}
	if !strings.Contains(p.Body, `<a href="/errors" aria-current="page">`) {
		t.Errorf("the Errors navigation item is not marked current")
	}
}

func TestErrorsHostileContent(t *testing.T) {
	t.Parallel()
	f := dashboardtest.New(t, dashboardtest.Options{})
	const hostile = `<script>alert(1)</script>`
	f.Sys.SetRecords("orders", map[string]any{"id": hostile, "total": 1}, map[string]any{"id": `"><img src=x onerror=alert(2)>`, "total": 2})
	f.Sys.Fail(hostile, 422)
	f.Sys.Fail(`"><img src=x onerror=alert(2)>`, 422)
	f.Run("orders")
	p := f.Get("/errors")
	if strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
		t.Fatalf("hostile content rendered as markup:\n%s", p.Body)
	}
	if !strings.Contains(p.Body, "customer &lt;key&gt; unknown") {
		t.Errorf("the hostile key is not folded out of the cause:\n%s", p.Body)
	}
	if !strings.Contains(p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the hostile key is not shown as text:\n%s", p.Body)
	}
	if !strings.Contains(p.Body, "/routes/orders/keys/%3Cscript%3Ealert%281%29%3C%2Fscript%3E") {
		t.Errorf("the hostile key's link is not escaped:\n%s", p.Body)
	}
}

func TestErrorsRemovedRoute(t *testing.T) {
	t.Parallel()
	f := errorsFixture(t)
	// orders leaves the config.
	f.SetYAML("systems:\n  sys: { url: %[1]q }\nroutes:\n" + `
  customers:
    source: { http: { system: sys, path: /src/customers, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/customers, body: each } } }
`)
	if err := f.Svc.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	p := f.Get("/errors")
	gs := errGroups(t, p.Body)
	if len(gs) != 3 || !strings.Contains(p.Body, "not in the config") {
		t.Fatalf("removed route: %d groups\n%s", len(gs), p.Body)
	}
	if strings.Contains(p.Body, `action="/errors/replay"`) {
		t.Errorf("a replay is offered for a route that is not in the config")
	}
	if !strings.Contains(p.Body, `<option value="orders"`) {
		t.Errorf("the removed route is not in the route filter")
	}
	g := errFindGroup(t, gs, "HTTP 422")
	p = errPost(t, f, "/errors/replay", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {g.fp}})
	if p.Status != http.StatusConflict || !strings.Contains(p.Body, "not in the config any more, so nothing would send its records") {
		t.Errorf("replay of a removed route: %d\n%s", p.Status, p.Body)
	}
	p = errPost(t, f, "/errors/discard", url.Values{"route": {"orders"}, "kind": {"dead"}, "fp": {g.fp}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Discarded 150 records") {
		t.Errorf("discard of a removed route: %d\n%s", p.Status, p.Body)
	}
}

// errPost posts a form as a browser without htmx does: a done action
// answers 303 back to the errors page, whose flash line is in a cookie;
// it follows that. A refusal answers with its status.
func errPost(t *testing.T, f *dashboardtest.Fixture, path string, form url.Values) dashboardtest.Page {
	t.Helper()
	p := f.Post(path, form)
	if p.Status != http.StatusSeeOther {
		return p
	}
	loc := p.Header.Get("Location")
	if !strings.HasPrefix(loc, "/errors") {
		t.Fatalf("POST %s went to %q, want the errors page", path, loc)
	}
	return f.Get(loc)
}

// errWaitFor polls cond until it holds or 20 seconds pass.
func errWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
