package server_test

import (
	"strings"
	"testing"
)

// testMetrics scrapes /metrics after runs, deliveries and webhook calls.
func testMetrics(t *testing.T, f *fixture) {
	eventually(t, "deliveries counted", func() bool {
		r := f.do(t, req{method: "GET", path: "/metrics", want: 200})
		return strings.Contains(string(r.body), `ferry_deliveries_total{destination="default",outcome="done",route="orders"}`)
	})
	body := string(f.do(t, req{method: "GET", path: "/metrics", want: 200}).body)
	for _, family := range []string{
		"ferry_entries", "ferry_deliveries_total", "ferry_delivery_duration_seconds", "ferry_runs_total",
		"ferry_run_duration_seconds", "ferry_webhook_requests_total", "ferry_route_last_success_timestamp_seconds",
		"ferry_route_stale", "ferry_schedule_ticks_skipped_total", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(body, "# TYPE "+family+" ") {
			t.Errorf("metrics lack %s", family)
		}
	}
	for _, sample := range []string{
		`ferry_entries{route="orders",status="error"}`,
		`ferry_runs_total{route="orders",status="partially_failed"} 2`,
		`ferry_webhook_requests_total{code="401",route="hook"}`,
		`ferry_webhook_requests_total{code="404",route=""}`,
		`ferry_route_last_success_timestamp_seconds{route="clean"}`,
		`ferry_route_stale{route="orders"} 0`,
	} {
		if !strings.Contains(body, sample) {
			t.Errorf("metrics lack %s", sample)
		}
	}
	if strings.Contains(body, apiToken) || strings.Contains(body, hookToken) {
		t.Error("a token shows in the metrics")
	}
}
