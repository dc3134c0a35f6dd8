package httpconn

import (
	"context"
	"net/http"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// A key with "/", "?" or spaces must stay one path segment.
func TestPathTemplateValuesAreEscaped(t *testing.T) {
	var got string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		w.WriteHeader(204)
	})
	d, err := NewDestination(systemsFor(t, srv.URL), &DestinationConfig{System: "api", Method: "PUT", Path: "/items/${key}/stock"})
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

// IDs beyond 2^53 and numbers beyond float64 stay exact: two such IDs
// must not collapse into one key, and payloads pass through unchanged.
func TestBigNumbersStayExact(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[{"id":9007199254740993,"n":12345678901234567890,"f":1e400,"p":19.90},{"id":9007199254740992,"x":2}]}`))
	})
	src, err := NewSource(systemsFor(t, srv.URL), &SourceConfig{System: "api", Records: "data", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []connector.SourceRecord
	err = src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		recs = append(recs, p.Records...)
		return nil
	})
	if err != nil || len(recs) != 2 {
		t.Fatalf("read: %v, %d records", err, len(recs))
	}
	if recs[0].Key != "9007199254740993" || recs[1].Key != "9007199254740992" {
		t.Fatalf("keys %q and %q, want the exact IDs", recs[0].Key, recs[1].Key)
	}
	b, _ := jsonx.Marshal(recs[0].Data)
	if string(b) != `{"f":1e400,"id":9007199254740993,"n":12345678901234567890,"p":19.9}` {
		t.Fatalf("payload %s", b)
	}
	if _, ok := recs[1].Data["x"].(float64); !ok {
		t.Fatalf("small numbers must be float64 for expressions, got %T", recs[1].Data["x"])
	}
}
