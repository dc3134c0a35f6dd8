package dashboard_test

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

func TestSmokeFixture(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5}, map[string]any{"id": 2, "total": 7})
	f.Sys.Fail("2", 422)
	f.Run("orders")
	p := f.Get("/static/app.css")
	if p.Status != 200 {
		t.Fatalf("css %d", p.Status)
	}
}
