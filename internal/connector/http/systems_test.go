package httpconn

import (
	"context"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/connector"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		perSec  float64 // 0: no limiter
		wantErr string
	}{
		{in: ""},
		{in: "10/s", perSec: 10},
		{in: "600/m", perSec: 10},
		{in: "5000/h", perSec: 5000.0 / 3600},
		{in: "2.5/s", perSec: 2.5},
		{in: "10", wantErr: `invalid rate "10" (expected requests per s, m or h, e.g. 10/s, 600/m, 5000/h)`},
		{in: "10/d", wantErr: `invalid rate "10/d"`},
		{in: "-1/s", wantErr: `invalid rate "-1/s"`},
		{in: "0/s", wantErr: `invalid rate "0/s"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, err := parseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.perSec == 0 {
				if l != nil {
					t.Fatalf("limiter = %v, want none", l.Limit())
				}
				return
			}
			if math.Abs(float64(l.Limit())-tt.perSec) > 1e-9 || l.Burst() != 1 {
				t.Fatalf("limit = %v burst %d, want %v burst 1", l.Limit(), l.Burst(), rate.Limit(tt.perSec))
			}
		})
	}
}

func TestNewSystemsErrors(t *testing.T) {
	tests := []struct {
		name string
		sys  SystemConfig
		want string
	}{
		{"relative url", SystemConfig{URL: "/api"}, `system "api": url: "/api" is not an absolute http(s) URL`},
		{"two auth methods", SystemConfig{URL: "http://x", Auth: &Auth{Bearer: "t", Basic: &BasicAuth{User: "u"}}},
			`system "api": auth: expected exactly one of bearer, basic or api_key, found 2`},
		{"empty auth", SystemConfig{URL: "http://x", Auth: &Auth{}}, `found 0`},
		{"api key in header and query", SystemConfig{URL: "http://x", Auth: &Auth{APIKey: &APIKey{Header: "X-Key", Query: "k", Value: "v"}}},
			`system "api": auth: api_key: expected exactly one of header or query`},
		{"api key without value", SystemConfig{URL: "http://x", Auth: &Auth{APIKey: &APIKey{Header: "X-Key"}}}, `api_key: value is empty`},
		{"bad rate", SystemConfig{URL: "http://x", Rate: "fast"}, `system "api": rate: invalid rate "fast"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := tt.sys
			_, err := NewSystems(map[string]*SystemConfig{"api": &sys})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestUnknownSystem(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	_, err := NewSource(s, &SourceConfig{System: "shop", Key: "id"})
	want := `system: unknown system "shop" (expected one of: api)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestAuthVariants checks that each auth method, the static headers and
// the User-Agent reach the server, on reads and on deliveries.
func TestAuthVariants(t *testing.T) {
	tests := []struct {
		name  string
		auth  *Auth
		check func(r *http.Request) bool
	}{
		{"bearer", &Auth{Bearer: "tok"}, func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer tok"
		}},
		{"basic", &Auth{Basic: &BasicAuth{User: "ferry", Password: "pw"}}, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "ferry" && p == "pw"
		}},
		{"api key header", &Auth{APIKey: &APIKey{Header: "X-API-Key", Value: "k1"}}, func(r *http.Request) bool {
			return r.Header.Get("X-API-Key") == "k1"
		}},
		{"api key query", &Auth{APIKey: &APIKey{Query: "api_key", Value: "k2"}}, func(r *http.Request) bool {
			return r.URL.Query().Get("api_key") == "k2" && r.URL.Query().Get("status") == "paid"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bad atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if !tt.check(r) || r.Header.Get("X-Tenant") != "acme" || r.Header.Get("User-Agent") != UserAgent {
					bad.Add(1)
					t.Errorf("%s %s: headers %v", r.Method, r.URL, r.Header)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Write([]byte(`[{"id": 1}]`))
			})
			s := systemsFor(t, srv.URL, func(c *SystemConfig) {
				c.Auth = tt.auth
				c.Headers = map[string]string{"X-Tenant": "acme"}
			})
			src, err := NewSource(s, &SourceConfig{System: "api", Path: "/orders", Key: "id", Query: map[string]string{"status": "paid"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil }); err != nil {
				t.Fatalf("read: %v", err)
			}
			dst, err := NewDestination(s, &DestinationConfig{System: "api", Path: "/orders?status=paid"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := dst.Send(context.Background(), []connector.Delivery{{Key: "1", Record: map[string]any{"id": 1.0}}})
			if err != nil || !res[0].OK {
				t.Fatalf("send: %v %+v", err, res)
			}
			if bad.Load() != 0 {
				t.Fatal("server saw requests without the expected auth")
			}
		})
	}
}

// TestRateLimitSpacesRequests: 5 requests at 20/s need at least 4 gaps
// of 50ms. Loose bounds only: timing on CI machines varies.
func TestRateLimitSpacesRequests(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	s := systemsFor(t, srv.URL, func(c *SystemConfig) { c.Rate = "20/s" })
	// Two destinations of one system share its limiter.
	a, err := NewDestination(s, &DestinationConfig{System: "api", Path: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDestination(s, &DestinationConfig{System: "api", Path: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n int) []connector.Delivery {
		out := make([]connector.Delivery, n)
		for i := range out {
			out[i] = connector.Delivery{Record: map[string]any{"i": float64(i)}}
		}
		return out
	}
	start := time.Now()
	done := make(chan error, 2)
	go func() { _, err := a.Send(context.Background(), batch(3)); done <- err }()
	go func() { _, err := b.Send(context.Background(), batch(2)); done <- err }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Fatalf("5 requests at 20/s took %v, want >= 150ms", elapsed)
	}
	if n.Load() != 5 {
		t.Fatalf("server saw %d requests, want 5", n.Load())
	}
}
