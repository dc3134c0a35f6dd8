package httpconn

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// TestOperation: the path and body are templates over record, delivery
// vars and call vars; "${total}" keeps its number type; the
// Idempotency-Key is the one the engine gave the operation, as given (so
// the header matches the key in the history).
func TestOperation(t *testing.T) {
	var bodies []map[string]any
	var keys []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b map[string]any
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Errorf("body %s: %v", raw, err)
		}
		if r.Method != http.MethodPut || r.URL.Path != "/orders/K2/status" || r.Header.Get("X-Reason") != "boom" {
			t.Errorf("%s %s %v", r.Method, r.URL, r.Header)
		}
		bodies = append(bodies, b)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		w.Write([]byte(`{"ok": true}`))
	})
	op, err := NewOperation(systemsFor(t, srv.URL), &OperationConfig{
		System: "api", Method: "PUT", Path: "/orders/${key}/status",
		Headers: map[string]string{"X-Reason": "${error}"},
		Body: map[string]any{
			"status": "Delivered",
			"total":  "${total}",
			"note":   "order ${key}: ${error}",
			"lines":  []any{"${external_id}", 3, map[string]any{"literal": "$${not a template}"}},
			"flag":   true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := deliveries(3)[2]
	for range 2 {
		res := op.Do(context.Background(), d, map[string]any{"error": "boom"})
		if !res.OK || res.StatusCode != 200 || res.Response != `{"ok": true}` || !strings.Contains(res.Request, `"status":"Delivered"`) {
			t.Fatalf("%+v", res)
		}
	}
	want := `{"flag":true,"lines":["K2",3,{"literal":"${not a template}"}],"note":"order K2: boom","status":"Delivered","total":2.5}`
	got, _ := json.Marshal(bodies[0])
	if string(got) != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	if keys[0] != d.IdempotencyKey || keys[1] != d.IdempotencyKey {
		t.Fatalf("idempotency keys %v: want the operation's own %s both times", keys, d.IdempotencyKey)
	}
}

func TestOperationWithoutBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if len(raw) != 0 || r.Header.Get("Content-Type") != "" || r.Method != http.MethodPost {
			t.Errorf("%s body %q content type %q", r.Method, raw, r.Header.Get("Content-Type"))
		}
		w.WriteHeader(http.StatusAccepted)
	})
	op, err := NewOperation(systemsFor(t, srv.URL), &OperationConfig{System: "api", Path: "/tickets/${key}/close"})
	if err != nil {
		t.Fatal(err)
	}
	if res := op.Do(context.Background(), deliveries(1)[0], nil); !res.OK || res.StatusCode != 202 {
		t.Fatalf("%+v", res)
	}
}

func TestNewOperationErrors(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		cfg  OperationConfig
		want string
	}{
		{"body template", OperationConfig{System: "api", Body: map[string]any{"ticket": map[string]any{"title": "order ${key"}}},
			`body.ticket.title: template "order ${key": unclosed ${ at offset 6`},
		{"body list", OperationConfig{System: "api", Body: []any{"ok", "${("}}, `body[1]: template "${("`},
		{"path", OperationConfig{System: "api", Path: "/a/${"}, `path: template "/a/${"`},
		{"method", OperationConfig{System: "api", Method: "TRACE"}, `method: "TRACE" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			_, err := NewOperation(s, &cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant prefix %s", err, tt.want)
			}
		})
	}
}

var _ connector.Operation = (*Operation)(nil)
