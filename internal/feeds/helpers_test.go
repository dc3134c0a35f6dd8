package feeds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/feeds"
)

const apiToken = "api-token-for-tests"

// engineSource is what the service does: the engine's feeds, an unknown
// route reported as feeds.ErrUnknownRoute.
type engineSource struct{ eng *engine.Engine }

func (s engineSource) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	if _, err := s.eng.Config().Route(route); err != nil {
		return nil, fmt.Errorf("%w: %w", feeds.ErrUnknownRoute, err)
	}
	return s.eng.Feeds(ctx, route)
}

// serve starts the handler on 127.0.0.1; bearer apiToken is authorized.
func serve(t *testing.T, src feeds.Source) string {
	t.Helper()
	h := feeds.Handler(src, feeds.Options{Authorized: func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer "+apiToken
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// response is what a test looks at of an answer.
type response struct {
	status int
	header http.Header
	body   string
}

// get requests path with headers ("Authorization": "api" adds the API
// token); the client neither asks for nor undoes gzip by itself.
func get(t *testing.T, method, url string, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Authorization" && v == "api" {
			v = "Bearer " + apiToken
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

var api = map[string]string{"Authorization": "api"}

// problem checks that r is a problem document with that status.
func problem(t *testing.T, r response, status int) feeds.Problem {
	t.Helper()
	var p feeds.Problem
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(r.body), &p) != nil || p.Status != status || p.Title == "" {
		t.Fatalf("want a %d problem document, got %d %s: %s", status, r.status, r.header.Get("Content-Type"), r.body)
	}
	return p
}
