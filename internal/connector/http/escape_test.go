package httpconn

import (
	"context"
	"net/http"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// A key with "/", "?" or spaces must stay one path segment.
func TestPathTemplateValuesAreEscaped(t *testing.T) {
	var got string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		w.WriteHeader(204)
	})
	d, err := NewDestination(systemsFor(t, srv.URL), &config.HTTPDestination{System: "api", Method: "PUT", Path: "/items/${key}/stock"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Send(context.Background(), []connector.Delivery{{Key: "A/7 ?x", Record: map[string]any{}, Vars: map[string]any{"key": "A/7 ?x"}}})
	if err != nil || !res[0].OK {
		t.Fatalf("send: %v %+v", err, res)
	}
	if got != "/items/A%2F7%20%3Fx/stock" {
		t.Fatalf("path %q, want the key escaped as one segment", got)
	}
}
