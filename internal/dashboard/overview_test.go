package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
	"github.com/ferry-dev/ferry/internal/store"
)

func TestOverviewListsEveryRouteAndItsProblems(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5}, map[string]any{"id": 2, "total": 7})
	f.Sys.Fail("2", 422)
	f.Run("orders")

	p := f.Get("/")
	if p.Status != http.StatusOK {
		t.Fatalf("GET / = %d: %s", p.Status, p.Body)
	}
	for _, want := range []string{
		`<tr data-route="orders" data-state="failing" class="problem">`,
		`<tr data-route="customers" data-state="idle">`,
		`<tr data-route="catalog"`,
		`href="/routes/orders"`,
		`Needs attention`,
		`sse-connect="/live"`,
		`<svg class="spark"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("overview lacks %s", want)
		}
	}
	if got := f.Get("/overview/table"); got.Status != 200 || strings.Contains(got.Body, "<html") || !strings.Contains(got.Body, `id="routes"`) {
		t.Errorf("the table fragment: %d, full page or no table: %.300s", got.Status, got.Body)
	}
}

func TestOverviewOfAFreshStore(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	p := f.Get("/")
	for _, want := range []string{"never ran", "No records delivered in the last 6 hours", `data-state="idle"`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("a fresh overview lacks %q", want)
		}
	}
	if strings.Contains(p.Body, "Needs attention") {
		t.Error("a fresh store needs no attention")
	}
}

// TestOverviewAfterAnAction: the overview's shared reading is renewed
// after a dashboard action, so whoever discarded the errors sees them gone.
func TestOverviewAfterAnAction(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5}, map[string]any{"id": 2, "total": 7})
	f.Sys.Fail("1", 503)
	f.Sys.Fail("2", 503)
	f.Run("orders")
	const errors2 = `href="/routes/orders/queue?status=error">2</a>`
	if p := f.Get("/"); !strings.Contains(p.Body, errors2) {
		t.Fatalf("the overview does not show the errors:\n%.3000s", p.Body)
	}
	errs, err := f.Store.Entries(context.Background(), store.EntryFilter{Route: "orders", Status: store.StatusError})
	if err != nil || len(errs) != 2 {
		t.Fatalf("error entries: %v, %v", errs, err)
	}
	form := url.Values{"confirmed": {"1"}}
	for _, e := range errs {
		form.Add("id", strconv.FormatInt(e.ID, 10))
	}
	if p := f.Post("/routes/orders/queue/discard", form); p.Status != http.StatusSeeOther {
		t.Fatalf("discard all errors: %d %.500s", p.Status, p.Body)
	}
	if p := f.Get("/"); strings.Contains(p.Body, errors2) {
		t.Errorf("the overview still shows the discarded errors (a stale shared reading)")
	}
}
