package httpconn

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// TestPreviewMatchesSend: a preview shows the method, URL and body that
// Send then sends, with the API key redacted, for both body modes.
func TestPreviewMatchesSend(t *testing.T) {
	var mu sync.Mutex
	var gotURL, gotBody string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotURL, gotBody = "http://"+r.Host+r.URL.String(), string(b)
		mu.Unlock()
	})
	s := systemsFor(t, srv.URL, func(c *SystemConfig) {
		c.Auth = &Auth{APIKey: &APIKey{Query: "key", Value: "k-123"}}
	})
	tests := []struct {
		cfg      DestinationConfig
		wantURL  string
		wantBody string // of the preview; "" = the body Send sent
	}{
		{cfg: DestinationConfig{Method: "PUT", Path: "/orders/${key}?v=${entry.id}"}, wantURL: "/orders/K0?key=REDACTED&v=1"},
		{cfg: DestinationConfig{Method: "DELETE", Path: "/orders/${key}"}, wantURL: "/orders/K0?key=REDACTED"},
		{cfg: DestinationConfig{Body: "array", Wrap: "orders", Path: "/batch?n=${batch_size}"}, wantURL: "/batch?key=REDACTED&n=1",
			wantBody: `{"external_id":"K0","total":0.5}`},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		cfg.System = "api"
		d := newDestination(t, s, &cfg)
		del := deliveries(1)[0]
		p, err := d.Preview(context.Background(), del)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		send(t, d, []connector.Delivery{del})
		want := tt.wantBody
		if want == "" {
			want = gotBody
		}
		if p.Method != d.method || p.URL != srv.URL+tt.wantURL || string(p.Body) != want {
			t.Errorf("%+v: preview %s %s %s; want %s %s %s", cfg, p.Method, p.URL, p.Body, d.method, srv.URL+tt.wantURL, want)
		}
		if strings.Replace(gotURL, "k-123", "REDACTED", 1) != p.URL {
			t.Errorf("sent %s, preview %s", gotURL, p.URL)
		}
	}
}

// TestPreviewFailsLikeSend: what Send would fail a record with, Preview
// returns as its error: a value JSON cannot encode, a failing template.
func TestPreviewFailsLikeSend(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	tests := []struct {
		name  string
		cfg   DestinationConfig
		value any
		want  string
	}{
		{"NaN each", DestinationConfig{}, math.NaN(), "encode record as JSON: json: unsupported value: NaN"},
		{"+Inf array", DestinationConfig{Body: "array"}, math.Inf(1), "encode record as JSON: json: unsupported value: +Inf"},
		{"-Inf nested", DestinationConfig{}, map[string]any{"x": []any{math.Inf(-1)}}, "encode record as JSON: json: unsupported value: -Inf"},
		{"path template fails", DestinationConfig{Path: "/x/${int(total)}"}, "not a number", "path: "},
		{"header template fails", DestinationConfig{Headers: map[string]string{"X-N": "${total.a.b}"}}, 1.5, "headers.X-N: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.System = "api"
			d := newDestination(t, s, &cfg)
			del := deliveries(1)[0]
			del.Record["total"] = tt.value
			_, err := d.Preview(context.Background(), del)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("preview err = %v, want %q", err, tt.want)
			}
			// Send fails the record with the same error, without sending.
			r := send(t, d, []connector.Delivery{del})[0]
			if r.OK || r.Retryable || r.Unknown || r.Error != err.Error() {
				t.Fatalf("send: %+v, want error %q", r, err)
			}
		})
	}
}

// TestDebugLog: at debug level every request is logged with method,
// redacted URL, status, duration and records; nothing at info level.
func TestDebugLog(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Write([]byte(`[{"id": 1}, {"id": 2}, {"id": 3}]`))
		case "/down":
			w.WriteHeader(503)
		}
	})
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		s, err := NewSystems(map[string]*SystemConfig{"shop": {URL: srv.URL, Auth: &Auth{APIKey: &APIKey{Query: "token", Value: "t0ps3cret"}}}}, WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		src := fastSource(t, s, &SourceConfig{System: "shop", Path: "/page", Key: "id"})
		if _, err := readAll(t, src, connector.ReadRequest{}); err != nil {
			t.Fatal(err)
		}
		d := newDestination(t, s, &DestinationConfig{System: "shop", Path: "/down", Body: "array"})
		send(t, d, deliveries(4))
		out := buf.String()
		if level == slog.LevelInfo {
			if out != "" {
				t.Errorf("logged at info level: %s", out)
			}
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{
			`msg="http request" system=shop method=GET url="` + srv.URL + `/page?token=REDACTED" status=200 duration=`,
			`msg="http request" system=shop method=POST url="` + srv.URL + `/down?token=REDACTED" status=503 duration=`,
		}
		if len(lines) != 2 {
			t.Fatalf("%d lines:\n%s", len(lines), out)
		}
		for i, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d: %s\nwant %s", i, lines[i], w)
			}
		}
		if !strings.HasSuffix(lines[0], "records=3") || !strings.HasSuffix(lines[1], "records=4") || strings.Contains(out, "t0ps3cret") {
			t.Errorf("records or secret:\n%s", out)
		}
	}
}
