package examples_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/registry"
)

// TestERPAnswersMessageNamesTheOrder: erp-answers' single destination
// records "ERP refused order <key>: ..." for a 422, as its comment
// promises, though its rule does not read result (the key was empty).
func TestERPAnswersMessageNamesTheOrder(t *testing.T) {
	erp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"error": "bad sku"}`)
	}))
	t.Cleanup(erp.Close)
	t.Setenv("ERP_URL", erp.URL)
	cfg := load(t, "erp-answers.yaml")
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	route := cfg.Routes["orders"]
	dest, err := reg.Destination(route, "single", route.Destinations["single"])
	if err != nil {
		t.Fatal(err)
	}
	res, err := dest.Send(context.Background(), []connector.Delivery{{
		EntryID: 1, Key: "7", IdempotencyKey: "idem-7",
		Record: map[string]any{"external_id": 7}, Vars: map[string]any{"key": "7"},
	}})
	if err != nil || len(res) != 1 {
		t.Fatalf("send: %v, %d results", err, len(res))
	}
	if want := "ERP refused order 7: bad sku"; res[0].Error != want || res[0].Retryable {
		t.Fatalf("error %q (retryable %v), want %q, dead", res[0].Error, res[0].Retryable, want)
	}
}
